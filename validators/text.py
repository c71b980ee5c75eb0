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
    "first_number",
    "normalize_passage",
    "normalize_url",
    "split_ellipsis",
]

# Quote style, dashes and odd spaces are typography, not wording. Double quotes inside a quoted
# passage become single quotes or vanish when it is quoted, so they are dropped on both sides;
# markdown emphasis and code marks are formatting a reader never sees.
_TYPOGRAPHY = (
    ("\u2018", "'"),
    ("\u2019", "'"),
    ("\u201a", "'"),
    ("\u201b", "'"),
    ("\u2032", "'"),
    ('"', ""),
    ("\u201c", ""),
    ("\u201d", ""),
    ("\u201e", ""),
    ("\u2033", ""),
    ("\u2013", "-"),
    ("\u2014", "-"),
    ("\u2011", "-"),
    ("*", ""),
    ("`", ""),
    ("\\", ""),
)
_MD_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
# A run of underscores is emphasis unless it sits between two word characters (snake_case).
# Same as r"(?<!\w)_+|_+(?!\w)", but starting with the literal "_" lets `re` skip straight to
# underscores: a leading look-behind is tried at every position, which made this the slowest step
# of normalizing source windows full of Python names.
_UNDERSCORE_EMPHASIS = re.compile(r"_(?:(?<!\w_)_*|_*(?!\w))")


def normalize_passage(text: str) -> str:
    """The form quotes and sources are compared in.

    Tolerated: whitespace and line breaks, quote and dash style (double quotes dropped), letter case,
    markdown emphasis and link syntax (the link text stays). Words and their order are kept exactly.
    Each step is skipped when its characters are absent: this runs on every window a quote is
    looked for in, and str.replace of an absent character costs nothing.
    """
    if "](" in text:
        text = _MD_LINK.sub(r"\1", text)
    for old, new in _TYPOGRAPHY:
        if old in text:
            text = text.replace(old, new)
    if "_" in text:
        text = _UNDERSCORE_EMPHASIS.sub("", text)
    # str.split() splits on every Unicode space, non-breaking ones included.
    return " ".join(text.lower().split())


_ELLIPSIS = re.compile(r"\s*(?:\[\s*(?:\.\s*){3}\]|\[\s*\u2026\s*\]|(?:\.\s*){3}|\u2026)\s*")
_FRAGMENT_EDGE = " .,;:!?\"'()[]"


def split_ellipsis(quote: str) -> list[str]:
    """Split a normalized quote on ellipses into the fragments that must appear, in order.

    Punctuation at a fragment's edge is dropped: a quote may end on a period where the source goes on.
    """
    # Every ellipsis is '…' or three periods: most quotes have neither, and splitting with this
    # pattern (which starts with \s*, so `re` tries it at every position) is slower than checking.
    pieces = _ELLIPSIS.split(quote) if "\u2026" in quote or quote.count(".") >= 3 else [quote]
    parts = (p.strip(_FRAGMENT_EDGE) for p in pieces)
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


# The first character is consumed rather than looked ahead at, so that `re` skips straight to
# digits and currency signs instead of trying the pattern at every position; the look-behind that
# keeps numbers out of words is written one character back to match. A digit consumed first is the
# number's own first digit (`rest` goes on from it); after a currency sign the number is `num`.
_NUMBER = re.compile(
    r"""
    [\d$\u20ac\u00a3\u00a5]
    (?: (?<=\bv.) | (?<=\bV.) | (?<![\w.,].) )          # not inside a word, except a version's v
    (?: (?<=\d) (?P<rest> \d{0,2}(?:[,\u00a0\u202f\u2009]\d{3})+(?:\.\d+)?(?!\d)  # 12,000 or 1,234.5
                        | \d*(?:\.\d+)* )                                         # 42, 24.42, 2.14.4
      | (?P<num> \d{1,3}(?:[,\u00a0\u202f\u2009]\d{3})+(?:\.\d+)?(?!\d)           # the same after
               | \d+(?:\.\d+)* )                                                  # a currency sign
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
    return [_token(text, m) for m in _NUMBER.finditer(text, start, len(text) if end is None else end)]


def first_number(text: str, start: int, end: int) -> NumberToken | None:
    """The first number token in `text[start:end]` (what find_numbers would list first), or None."""
    m = _NUMBER.search(text, start, end)
    return _token(text, m) if m else None


def _token(text: str, m: re.Match[str]) -> NumberToken:
    _rest, num, pct, mult = m.groups()  # one call for all four groups, in the pattern's order
    start = m.start()
    if num is None:  # the number starts with the digit the match starts with
        num = text[start : m.end("rest")]
    unit = "%" if pct else ("x" if mult else "")
    end = m.end("pct") if pct else m.end()
    # Positional: a frozen dataclass takes keywords noticeably slower, and drafts hold hundreds.
    return NumberToken(start, end, text[start:end], num.translate(_SEPARATORS), unit)


# Parentheses end a URL: markdown puts links in them far more often than URLs contain them.
_URL_REST = re.compile(r"[^\s<>\"'`()\[\]{}|\\^]+")
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
    """Every http(s) URL in `text`; the span leaves out trailing punctuation but keeps a trailing slash.

    Scans for '://' with str.find rather than a case-insensitive regex, which cannot use a literal
    prefix and was the slowest pass over large sources.
    """
    found = []
    position = text.find("://")
    while position >= 0:
        url = url_at(text, position)
        if url is not None:
            found.append(url)
        position = text.find("://", url.end if url else position + 3)
    return found


def url_at(text: str, separator: int) -> UrlToken | None:
    """The http(s) URL whose '://' is at `separator`, if there is one."""
    if text[max(0, separator - 5) : separator].lower() == "https":
        start = separator - 5
    elif text[max(0, separator - 4) : separator].lower() == "http":
        start = separator - 4
    else:
        return None
    rest = _URL_REST.match(text, separator + 3)
    if rest is None:
        return None
    raw = text[start : rest.end()].rstrip(_URL_TRAILING)
    if raw.endswith("://"):
        return None
    return UrlToken(start, start + len(raw), raw, normalize_url(raw))


def url_ends_or_continues_at(text: str, position: int) -> bool:
    """True when a URL written up to `position` ends there, or goes on into a path, query or fragment.

    Trailing punctuation ends a URL only when no URL character follows it ('docs.' ends, 'docs.html'
    does not).
    """
    while position < len(text) and text[position] in _URL_TRAILING:
        position += 1
        if position == len(text) or not _URL_REST.match(text, position):
            return True
    return position == len(text) or text[position] in "/?#" or not _URL_REST.match(text, position)
