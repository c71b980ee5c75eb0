"""Token rules shared by drafts and sources: quotes, numbers and URLs are compared in one normal form.

Both sides of every comparison go through the same functions, so a rule that reads a draft one way
reads a source the same way; that symmetry is what keeps clean drafts free of false positives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "NumberToken",
    "find_numbers",
    "find_urls",
    "normalize_passage",
    "normalize_url",
    "split_ellipsis",
]

# Quote style, dashes and odd spaces are typography, not wording.
_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        # Double quotes inside a quoted passage become single quotes or vanish when it is quoted,
        # so they are dropped on both sides.
        '"': None,
        "\u201c": None,
        "\u201d": None,
        "\u201e": None,
        "\u2033": None,
        "\u2013": "-",
        "\u2014": "-",
        "\u2011": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2009": " ",
        # Markdown emphasis and code marks are formatting a reader never sees.
        "*": None,
        "`": None,
        "\\": None,
    }
)
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)_+|_+(?!\w)")
_SPACES = re.compile(r"\s+")


def normalize_passage(text: str) -> str:
    """The form quotes and sources are compared in.

    Tolerated: whitespace and line breaks, quote and dash style (double quotes dropped), letter case,
    markdown emphasis and link syntax (the link text stays). Words and their order are kept exactly.
    """
    text = _MD_LINK.sub(r"\1", text)
    text = text.translate(_TYPOGRAPHY)
    text = _UNDERSCORE_EMPHASIS.sub("", text)
    text = _SPACES.sub(" ", text)
    return text.lower().strip()


_ELLIPSIS = re.compile(r"\s*(?:\[\s*(?:\.\s*){3}\]|\[\s*\u2026\s*\]|(?:\.\s*){3}|\u2026)\s*")
_FRAGMENT_EDGE = " .,;:!?\"'()[]"


def split_ellipsis(quote: str) -> list[str]:
    """Split a normalized quote on ellipses into the fragments that must appear, in order.

    Punctuation at a fragment's edge is dropped: a quote may end on a period where the source goes on.
    """
    parts = (p.strip(_FRAGMENT_EDGE) for p in _ELLIPSIS.split(quote))
    return [p for p in parts if any(c.isalnum() for c in p)]


@dataclass(frozen=True, slots=True)
class NumberToken:
    """A number as written, with the key it is compared by.

    `digits` drops thousands separators; `unit` is '%' or 'x' when the number is a percentage or a
    multiplier, because '40%' and '40' are different claims; a currency sign is kept only for display.
    """

    start: int
    end: int
    text: str
    digits: str
    unit: str

    def supported_by(self, keys: set[tuple[str, str]], plain: set[str]) -> bool:
        """True when a source holds this number: a bare number matches any use of its digits."""
        if self.unit:
            return (self.digits, self.unit) in keys
        return self.digits in plain


_NUMBER = re.compile(
    r"""
    (?: (?<=\bv) | (?<=\bV) | (?<![\w.,]) )            # not inside a word, except a version's v
    (?P<currency>[$\u20ac\u00a3\u00a5])?
    (?P<num> \d{1,3}(?:[,\u00a0\u202f\u2009]\d{3})+(?:\.\d+)?(?!\d)   # 12,000 or 1,234.5
           | \d+(?:\.\d+)*                             # 42, 24.42, 2.14.4
    )
    (?: (?P<pct>[ \u00a0\u202f]?%|[ \u00a0]percent\b)
      | (?P<mult>[x\u00d7](?![A-Za-z0-9]))
    )?
    """,
    re.VERBOSE,
)
_SEPARATORS = str.maketrans("", "", ",\u00a0\u202f\u2009")


def find_numbers(text: str, start: int = 0, end: int | None = None) -> list[NumberToken]:
    """Every number token in `text[start:end]`, with offsets into `text`."""
    found = []
    for m in _NUMBER.finditer(text, start, len(text) if end is None else end):
        unit = "%" if m.group("pct") else ("x" if m.group("mult") else "")
        token_end = m.end("pct") if m.group("pct") else m.end()
        found.append(
            NumberToken(
                start=m.start(),
                end=token_end,
                text=text[m.start() : token_end],
                digits=m.group("num").translate(_SEPARATORS),
                unit=unit,
            )
        )
    return found


# Parentheses end a URL: markdown puts links in them far more often than URLs contain them.
_URL = re.compile(r"https?://[^\s<>\"'`()\[\]{}|\\^]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?*_'\""


@dataclass(frozen=True, slots=True)
class UrlToken:
    start: int
    end: int
    text: str
    key: str


def normalize_url(url: str) -> str:
    """The form URLs are compared in: no trailing punctuation or slash, scheme and host in lower case."""
    url = url.rstrip(_URL_TRAILING).rstrip("/")
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}"


def find_urls(text: str) -> list[UrlToken]:
    """Every http(s) URL in `text`; the span leaves out trailing punctuation but keeps a trailing slash."""
    found = []
    for m in _URL.finditer(text):
        raw = m.group().rstrip(_URL_TRAILING)
        if "://" not in raw or raw.endswith("://"):
            continue
        found.append(UrlToken(m.start(), m.start() + len(raw), raw, normalize_url(raw)))
    return found
