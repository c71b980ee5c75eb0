"""Quantities digits alone do not carry: figures in words, units, and dates.

"Three times faster" and "roughly half" are figures a reader takes as such; '530 GB/s' is not what a
source saying '530 MB/s' states, though the digits match; 'May 4, 2026' is the source's
'2026-05-04'. Each is compared in one normal form: a value for words, a unit family and scale for
units, (year, month, day) for dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prefect_review_gate.validators.sources import SourceDocument, find_word_aligned
from prefect_review_gate.validators.text import NumberToken

__all__ = [
    "WordFigure",
    "date_in",
    "find_dates",
    "find_word_figures",
    "multiplier_in_words",
    "source_dates",
    "unit_after",
    "unit_conflict",
    "word_figure_in",
]

_SMALL = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "hundred": 100, "a hundred": 100, "a thousand": 1000,
}  # fmt: skip
_WORD_FIGURE = re.compile(
    r"\b(?:(?P<times>" + "|".join(sorted(_SMALL, key=len, reverse=True)) + r")[- ]times\b"
    r"|(?P<twice>twice|double|triple)\b(?=[ \t]+(?:as|the|that|faster|slower|more|less|fewer))"
    r"|(?P<half>half)\b(?=[ \t]+(?:the|of|as|that))|(?P<dozen>a dozen)\b)",
    re.I,
)


_WORD_HINTS = ("times", "twice", "double", "triple", "half", "dozen")


@dataclass(frozen=True, slots=True)
class WordFigure:
    """A figure written in words: its span, text, value, and 'x' for a multiplier."""

    start: int
    end: int
    text: str
    value: float
    unit: str


def find_word_figures(text: str, start: int, end: int) -> list[WordFigure]:
    """Multipliers ('three times', 'twice as'), 'half the/of' and 'a dozen' in text[start:end]."""
    found: list[WordFigure] = []
    # The pattern starts with \b and an alternation, which `re` tries at every position: it runs
    # only on the few lines holding one of its words, found by plain substring search.
    lowered = text[start:end].lower()
    lines: dict[int, int] = {}
    for hint in _WORD_HINTS:
        hit = lowered.find(hint)
        while hit >= 0:
            line_start = text.rfind("\n", start, start + hit) + 1
            line_end = text.find("\n", start + hit, end)
            lines[max(line_start, start)] = end if line_end < 0 else line_end
            hit = lowered.find(hint, hit + len(hint))
    matches = [m for a, b in sorted(lines.items()) for m in _WORD_FIGURE.finditer(text, a, b)]
    for m in matches:
        if m.group("times"):
            value, unit = float(_SMALL[m.group("times").lower()]), "x"
        elif m.group("twice"):
            value, unit = {"twice": 2.0, "double": 2.0, "triple": 3.0}[m.group("twice").lower()], "x"
        elif m.group("half"):
            value, unit = 0.5, ""
        else:
            value, unit = 12.0, ""
        found.append(WordFigure(m.start(), m.end(), m.group(), value, unit))
    return found


def _spellings(figure: WordFigure) -> list[str]:
    """How a source may state the same figure, in lower case."""
    written = [" ".join(figure.text.lower().replace("-", " ").split())]
    value = figure.value
    if figure.unit == "x":
        whole = str(int(value))
        written += [f"{whole}x", f"{whole}\u00d7", f"{whole} times", f"{whole}-fold", f"{whole} fold"]
        words = [w for w, v in _SMALL.items() if v == value]
        written += [f"{w} times" for w in words] + [f"{w}-fold" for w in words]
        if value == 2:
            written += ["twice", "double"]
        if value == 3:
            written += ["triple"]
    elif value == 0.5:
        written += ["half", "50%", "50 %", "50 percent"]
    else:
        written += ["dozen", "12"]
    return list(dict.fromkeys(written))


def word_figure_in(doc: SourceDocument, figure: WordFigure) -> bool:
    """True when the source states the figure, in words or digits."""
    lowered = doc.lowered if doc.lowered is not None else doc.text.lower()
    return any(find_word_aligned(lowered, spelling) >= 0 for spelling in _spellings(figure))


_WORDS_OF = {str(v): w for w, v in _SMALL.items() if not w.startswith("a ")}


def multiplier_in_words(doc: SourceDocument, number: NumberToken) -> bool:
    """True when a source writes a multiplier such as '3x' in words ('three times', 'threefold')."""
    word = _WORDS_OF.get(number.digits)
    if number.unit != "x" or word is None:
        return False
    lowered = doc.lowered if doc.lowered is not None else doc.text.lower()
    return any(
        find_word_aligned(lowered, form) >= 0
        for form in (f"{word} times", f"{word}-fold", f"{word}fold", f"{number.digits} times")
    )


# --- units -------------------------------------------------------------------------------------

_UNIT = re.compile(
    r"[ \t\u00a0]?(?P<unit>[kKMGTP]i?B|bytes?|ns|\u00b5s|us|ms|s|secs?|seconds?|mins?|minutes?|h|hours?)"
    r"(?![A-Za-z0-9])"
)
_FAMILY = {
    "kb": ("bytes", 1e3), "kib": ("bytes", 1024.0), "mb": ("bytes", 1e6), "mib": ("bytes", 1024.0**2),
    "gb": ("bytes", 1e9), "gib": ("bytes", 1024.0**3), "tb": ("bytes", 1e12), "tib": ("bytes", 1024.0**4),
    "pb": ("bytes", 1e15), "byte": ("bytes", 1.0), "bytes": ("bytes", 1.0),
    "ns": ("time", 1e-9), "\u00b5s": ("time", 1e-6), "us": ("time", 1e-6), "ms": ("time", 1e-3),
    "s": ("time", 1.0), "sec": ("time", 1.0), "secs": ("time", 1.0), "second": ("time", 1.0),
    "seconds": ("time", 1.0), "min": ("time", 60.0), "mins": ("time", 60.0), "minute": ("time", 60.0),
    "minutes": ("time", 60.0), "h": ("time", 3600.0), "hour": ("time", 3600.0), "hours": ("time", 3600.0),
}  # fmt: skip


def unit_after(text: str, position: int) -> tuple[str, float] | None:
    """(family, scale) of a unit written right after a figure ending at `position`, if any."""
    m = _UNIT.match(text, position)
    return _FAMILY.get(m.group("unit").lower()) if m else None


def unit_conflict(doc: SourceDocument, number: NumberToken, unit: tuple[str, float]) -> str | None:
    """The unit the source gives these digits when it never gives them the claim's: '530 MB'."""
    others = []
    for position in doc.number_positions(number, 40):
        end = position + len(number.digits)
        while end < len(doc.text) and (doc.text[end].isdigit() or doc.text[end] in ",."):
            end += 1  # the source may group the digits: 12,000
        theirs = unit_after(doc.text, end)
        if theirs == unit:
            return None
        if theirs is not None and theirs[0] == unit[0]:
            others.append(doc.text[position : _UNIT.match(doc.text, end).end()])  # type: ignore[union-attr]
    return others[0] if others else None


# --- dates -------------------------------------------------------------------------------------

_YEAR = re.compile(r"\d\d\d\d")  # as \d{4}, which `re` scans for a third slower
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?P<{g}>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_FULL_DATE = re.compile(
    r"\b(?:" + _MONTH.format(g="m1") + r"[ \t]+(?P<d1>\d{1,2})(?:st|nd|rd|th)?,?[ \t]+(?P<y1>\d{4})"
    r"|(?P<d2>\d{1,2})(?:st|nd|rd|th)?[ \t]+" + _MONTH.format(g="m2") + r",?[ \t]+(?P<y2>\d{4})"
    r"|(?P<y3>\d{4})[-/.](?P<m3>\d{2})[-/.](?P<d3>\d{2}))\b",
    re.I,
)


def find_dates(
    text: str, start: int = 0, end: int | None = None
) -> list[tuple[int, int, tuple[int, int, int]]]:
    """(start, end, (year, month, day)) of every full date in text[start:end]."""
    found: list[tuple[int, int, tuple[int, int, int]]] = []
    end = len(text) if end is None else end
    # Every full date holds a year: the pattern (an alternation `re` would try at every position)
    # runs only around each run of four digits.
    seen: set[int] = set()
    matches = []
    for year in _YEAR.finditer(text, start, end):
        for m in _FULL_DATE.finditer(text, max(start, year.start() - 24), min(end, year.end() + 7)):
            if m.start() not in seen:
                seen.add(m.start())
                matches.append(m)
    for m in matches:
        if m.group("y3"):
            ymd = (int(m.group("y3")), int(m.group("m3")), int(m.group("d3")))
        else:
            day, month, year_text = (m.group("d1"), m.group("m1"), m.group("y1"))
            if not year_text:
                day, month, year_text = (m.group("d2"), m.group("m2"), m.group("y2"))
            # re.I matches Unicode case folds too (U+017F, the long s, for `s`; the Kelvin sign for `k`):
            # such a "month" is no month name, and no date.
            ymd = (int(year_text), _MONTHS.get(month[:3].lower(), 0), int(day))
        if 1 <= ymd[1] <= 12 and 1 <= ymd[2] <= 31:
            found.append((m.start(), m.end(), ymd))
    return found


def date_in(doc: SourceDocument, ymd: tuple[int, int, int]) -> bool:
    """True when the source writes this date, in any of the forms `find_dates` reads."""
    if str(ymd[0]) not in doc.text:
        return False  # the year is not there: no date to read
    return any(found == ymd for _, found in source_dates(doc))


def source_dates(doc: SourceDocument) -> list[tuple[int, tuple[int, int, int]]]:
    """(position, (year, month, day)) of every full date the source writes, read once."""
    if doc.dates is None:
        doc.dates = [(start, found) for start, _, found in find_dates(doc.text)]
    return doc.dates
