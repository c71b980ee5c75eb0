"""Support in context: a figure the cited source states must be stated about what the claim says.

A source states many figures; a claim borrows one of them for the wrong subject ("added in 1.0.6"
when 1.0.6 is another release of the same changelog). For a figure the cited sources hold, the
passages holding it are compared with the claim's distinctive words, those the source uses only a
few times (so that 'python' in a Python package's readme says nothing); when another passage of
the cited sources shares clearly more of them and states a different figure of the same kind
there, the figure sits on another subject.

A passage is a paragraph or list item with the headings above it (a changelog entry's version is
its section's heading); a heading's passage is its section. Passages are indexed once per source.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from prefect_review_gate.validators.sources import SourceDocument
from prefect_review_gate.validators.text import NumberToken, find_numbers, find_urls

__all__ = [
    "InContext",
    "Misplaced",
    "claim_entities",
    "claim_terms",
    "closest_in_context",
    "misplaced_number",
    "said_near",
]

_WORD = re.compile(r"[^\W\d_]{3,}")
_MARKER = re.compile(r"\[[a-z0-9][a-z0-9._, -]*\]")
_LINK_TARGET = re.compile(r"\]\([^)\s]*\)")
# Function words, and the words a writer frames any claim with (who said it, where it is written,
# how close a figure is): they place nothing.
_STOP = frozenset(
    [
        "about", "according", "accordingly", "add", "added", "adds", "all", "almost", "also", "and",
        "announce", "announced", "another", "any", "approximately", "are", "around", "author", "authors",
        "based", "been", "being", "both", "but", "can", "claim", "claims", "could", "current", "currently",
        "describe", "described", "describes", "description", "detail", "detailed", "details", "did",
        "docs", "documentation", "does", "done", "down", "each", "exactly", "explain", "explained",
        "explains", "figure", "figures", "find", "first", "for", "found", "from", "further", "give",
        "given", "gives", "go", "goes", "guide", "had", "has", "have", "her", "here", "his", "important",
        "include", "includes", "including", "indicate", "indicates", "information", "into", "its", "just",
        "key", "known", "last", "latest", "least", "less", "like", "list", "listed", "lists", "made",
        "main", "maintainer", "maintainers", "make", "makes", "many", "may", "mention", "mentioned",
        "mentions", "might", "more", "most", "much", "must", "nearly", "new", "newer", "next", "not",
        "note", "noted", "notes", "now", "number", "numbers", "official", "officially", "one", "only",
        "other", "our", "out", "over", "overview", "package", "packages", "page", "passage", "per",
        "plainly", "point", "points", "project", "projects", "put", "puts", "quote", "quoted", "read",
        "reading", "readme", "reads", "refer", "referred", "refers", "release", "releases", "report",
        "reported", "reports", "roughly", "said", "say", "says", "second", "section", "sections", "see",
        "should", "show", "shows", "some", "source", "sources", "stand", "stands", "state", "stated",
        "states", "such", "summary", "tell", "tells", "term", "terms", "text", "than", "that", "the",
        "their", "them", "then", "there", "these", "they", "this", "those", "three", "time", "times",
        "today", "two", "under", "up", "use", "used", "uses", "using", "value", "values", "version",
        "versions", "very", "via", "was", "well", "were", "what", "when", "where", "which", "while", "who",
        "whom", "whose", "will", "with", "would", "write", "writes", "written", "wrote", "your",
    ]
)  # fmt: skip
_MAX_PASSAGE = 1500
_MAX_HITS = 40
_NEAR = 200  # characters either side of a figure read before its passage is looked up


@dataclass(frozen=True, slots=True)
class Misplaced:
    """A figure held by the cited sources, but about something else than the claim."""

    source_id: str
    passage: str  # where the claim's subject is said, with its own figure
    figure: str  # the figure stated there
    held_source_id: str
    held_passage: str  # where the claimed figure actually sits


def claim_terms(
    claim: str, numbers: Sequence[NumberToken], quotes: Sequence[tuple[int, int]] | None = None
) -> list[str]:
    """The claim's content words, stemmed, and its figures (the one checked is left out later).

    Quoted words (`quotes`: spans in `claim`) are left out: a quote is checked on its own, and what
    the writer says around it is the claim a figure belongs to.
    """
    hidden = [*(quotes or ())]
    if "://" in claim:
        hidden += [(url.start, url.end) for url in find_urls(claim)]
    for start, end in hidden:
        claim = claim[:start] + " " * (end - start) + claim[end:]
    text = _MARKER.sub(" ", claim) if "[" in claim else claim
    if "](" in text:
        text = _LINK_TARGET.sub(" ", text)
    words = {w for w in _WORD.findall(text.lower()) if w not in _STOP}
    terms = sorted({stem for stem in map(_stem, words) if stem not in _STOP})
    return terms + sorted({n.text.lower() for n in numbers if len(n.digits) >= 2})


_CODE = re.compile(r"`([^`\n]+)`")
_NAME = re.compile(r"(?<=[a-z0-9,;:)] )[A-Z][A-Za-z0-9]+")


def claim_entities(claim: str) -> list[str]:
    """The claim's subjects, stemmed as terms are: words written as code, and capitalized words
    after the sentence's first (names of products, companies, people)."""
    found = [w for code in _CODE.findall(claim) for w in _WORD.findall(code.lower())]
    found += [m.group().lower() for m in _NAME.finditer(claim)]
    return sorted({_stem(w) for w in found if w not in _STOP})


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def misplaced_number(
    number: NumberToken,
    terms: Sequence[str],
    cited: Sequence[SourceDocument],
    entities: Sequence[str] = (),
) -> Misplaced | None:
    """Where the cited sources say the claim's subject with another figure, if not where it sits.

    The other passage must share at least two distinctive terms more than any passage holding the
    figure, one of them a word: figures listed together place nothing on their own. One more is
    enough when it is the claim's subject (`entities`: a name or code the claim writes, which no
    passage holding the figure has): "`loads()` is 10x as fast" where the source gives 10x to dumps().
    """
    terms = [t for t in terms if t != number.text.lower()]
    if len(terms) < 2 or all(t[:1].isdigit() for t in terms):
        return None
    best_own: tuple[int, SourceDocument, tuple[int, int]] | None = None
    candidates: list[tuple[SourceDocument, _Index, list[str]]] = []
    subjects: list[str] = []
    own_subjects: set[str] = set()
    for doc in cited:
        index = _index(doc)
        if index is None:
            continue
        distinctive = index.distinctive(terms)
        if len(distinctive) < 2 or all(t[:1].isdigit() for t in distinctive):
            continue
        subjects = [e for e in entities if e in distinctive]
        positions = doc.number_positions(number, _MAX_HITS + 1)
        if len(positions) > _MAX_HITS:
            return None  # a figure the source writes everywhere ('2', a port in a table) places nothing
        candidates.append((doc, index, distinctive))
        for position in positions:
            if _in_url(doc.text, position):
                continue  # a release link's compare/1.0.4...1.0.6 says nothing about 1.0.4
            # In prose, the text right around the figure first: when it already holds all but one
            # of the distinctive terms no passage can beat it by two, and nothing is indexed. A list
            # item or table row is read alone: its neighbours are other entries.
            near = 0
            if item_at(index.lowered, position) is None:
                window = _paragraph_near(index.lowered, position)
                near = index.shared(distinctive, window, headings=False)
                if near >= len(distinctive) - 1 and index.shared(subjects, window, headings=False) == len(
                    subjects
                ):
                    return None
            span = index.passage(position)
            score = max(near, index.shared(distinctive, span))
            held = {e for e in subjects if index.shared([e], span)}
            own_subjects |= held
            if score >= len(distinctive) - 1 and len(held) == len(subjects):
                return None
            if best_own is None or score > best_own[0]:
                best_own = (score, doc, span)
    if best_own is None:
        return None
    own_score = best_own[0]
    kind = _kind(number)
    best_other: tuple[int, SourceDocument, tuple[int, int], NumberToken] | None = None
    missing = [e for e in subjects if e not in own_subjects]
    for doc, index, distinctive in candidates:
        if len(distinctive) < own_score + (1 if missing else 2):
            continue
        words = [t for t in distinctive if not t[:1].isdigit()]
        for span in index.passages_with(distinctive):
            score = index.shared(distinctive, span)
            margin = 1 if missing and index.shared(missing, span) else 2
            if score < max(2, own_score + margin) or (best_other is not None and score <= best_other[0]):
                continue
            if not index.shared(words, span):
                continue
            other = index.figure_of_kind(span, kind, number)
            if other is not None:
                best_other = (score, doc, span, other)
    if best_other is None:
        return None
    _, doc, span, other = best_other
    own_doc, own_span = best_own[1], best_own[2]
    return Misplaced(doc.id, _show(doc, span), other.text, own_doc.id, _show(own_doc, own_span))


@dataclass(frozen=True, slots=True)
class InContext:
    """The passage of the cited sources that says most of what a claim says, and its figure."""

    source_id: str
    passage: str
    figure: str


def closest_in_context(
    number: NumberToken, terms: Sequence[str], cited: Sequence[SourceDocument]
) -> InContext | None:
    """For a figure no cited source states: the passage sharing most of the claim's distinctive terms
    (two at least, one a word) with a figure of the same kind, so the reviewer sees what the source
    says about the claim's subject rather than the nearest value anywhere. None when no passage does."""
    terms = [t for t in terms if t != number.text.lower()]
    kind = _kind(number)
    best: tuple[int, SourceDocument, tuple[int, int], NumberToken] | None = None
    for doc in cited:
        index = _index(doc)
        if index is None:
            continue
        distinctive = index.distinctive(terms)
        words = [t for t in distinctive if not t[:1].isdigit()]
        if len(distinctive) < 2 or not words:
            continue
        for span in index.passages_with(distinctive):
            score = index.shared(distinctive, span)
            if score < 2 or (best is not None and score <= best[0]) or not index.shared(words, span):
                continue
            figures = index.figures_of_kind(span, kind, number)
            if figures:  # of the passage's figures, the nearest in value is the one most likely meant
                best = (score, doc, span, min(figures, key=lambda f: _relative_gap(f, number)))
    if best is None:
        return None
    _, doc, span, other = best
    return InContext(doc.id, _show(doc, span), other.text)


def _relative_gap(a: NumberToken, b: NumberToken) -> float:
    try:
        x, y = float(a.digits), float(b.digits)
    except ValueError:  # a version: compared as text
        return 1.0 if a.digits != b.digits else 0.0
    return abs(x - y) / max(abs(x), abs(y), 1e-9)


def _show(doc: SourceDocument, span: tuple[int, int]) -> str:
    index = _index(doc)
    return index.show(span) if index is not None else ""


def said_near(doc: SourceDocument, terms: Sequence[str], position: int) -> int:
    """How many of the claim's distinctive terms the passage at `position` holds (0 unless one is a
    word and two at least are there): how surely the source speaks of the same thing there."""
    index = _index(doc)
    if index is None:
        return 0
    distinctive = index.distinctive(terms)
    words = [t for t in distinctive if not t[:1].isdigit()]
    span = index.passage(position)  # a date in a release heading is about that release's section
    shared = index.shared(distinctive, span)
    return shared if shared >= 2 and index.shared(words, span) >= 1 else 0


def _kind(number: NumberToken) -> tuple[str, int]:
    """What sort of figure: its unit and how many dots (an integer, a decimal, a version)."""
    return number.unit, min(number.digits.count("."), 2)


_BLANK = re.compile(r"\n[ \t]*\n")
# Both start with a line break, a literal `re` skips to: a pattern anchored with ^ and re.M is tried
# at every line start, which made indexing cost more than the checks.
_ATX_HEADING = re.compile(r"\n[ \t]{0,3}(#{1,6})[ \t]")
_SETEXT_UNDERLINE = re.compile(r"\n[ \t]*(?:=+|-{3,})[ \t]*(?=\n|$)")
_URL_START = re.compile(r"https?://", re.I)


class _Index:
    """A source's paragraphs and headings, found once, and how often each term occurs in it."""

    def __init__(self, doc: SourceDocument, lowered: str) -> None:
        self.doc = doc
        self.lowered = lowered
        self.counts: dict[str, int] = {}
        # A term is distinctive when the source uses it in a few places only.
        self.rare = max(4, len(lowered) // 3000)
        self._built = False
        self.breaks: list[int] = []
        self.headings: list[tuple[int, int, int]] = []  # (start, line end, level)
        self.heading_starts: list[int] = []
        self.parents: list[int] = []  # each heading's nearest heading above of a higher level, or -1

    def _build(self) -> None:
        """Find the paragraphs and headings: once, and only for a source a claim is placed in."""
        self._built = True
        lowered = self.lowered
        self.breaks = [0, *(m.end() for m in _BLANK.finditer(lowered))]
        for m in _ATX_HEADING.finditer("\n" + lowered):  # offsets shifted by the "\n" put first
            end = lowered.find("\n", m.start())
            self.headings.append((m.start(), len(lowered) if end < 0 else end, len(m.group(1))))
        for m in _SETEXT_UNDERLINE.finditer(lowered):
            start = lowered.rfind("\n", 0, m.start()) + 1
            title = lowered[start : m.start()].strip()
            if title and not title.startswith(("#", "-", "*", "|")):
                self.headings.append((start, m.start(), 1 if "=" in m.group() else 2))
        self.headings.sort()
        self.heading_starts = [h[0] for h in self.headings]
        stack: list[int] = []
        for at, (_, _, level) in enumerate(self.headings):
            while stack and self.headings[stack[-1]][2] >= level:
                stack.pop()
            self.parents.append(stack[-1] if stack else -1)
            stack.append(at)

    def distinctive(self, terms: Sequence[str]) -> list[str]:
        """The terms this source uses, but in a few places only (counted at word starts)."""
        found = []
        for term in terms:
            if term not in self.counts:
                self.counts[term] = _count_words(self.lowered, term, self.rare + 1)
            if 0 < self.counts[term] <= self.rare:
                found.append(term)
        return found

    def passage(self, position: int) -> tuple[int, int]:
        """The paragraph around `position`; a heading's whole section when it is in a heading; a list
        item or table row alone (with its continuation lines) when it is in one, as a reader reads a
        changelog entry or a row of a table of exit codes."""
        if not self._built:
            self._build()
        at = bisect.bisect_right(self.heading_starts, position) - 1
        if at >= 0 and self.headings[at][0] <= position <= self.headings[at][1]:
            start, _, level = self.headings[at]
            end = start + _MAX_PASSAGE
            for later in self.headings[at + 1 :]:
                if later[2] <= level:
                    end = min(end, later[0])
                    break
            return start, min(end, len(self.lowered))
        item = item_at(self.lowered, position)
        if item is not None:
            return item
        first = bisect.bisect_right(self.breaks, position) - 1
        start = max(self.breaks[first], position - _MAX_PASSAGE // 2)
        following = self.breaks[first + 1] if first + 1 < len(self.breaks) else len(self.lowered)
        return start, min(following, position + _MAX_PASSAGE // 2)

    def ancestors(self, position: int) -> list[tuple[int, int]]:
        """The heading lines above `position`: the nearest, then each of a higher level."""
        if not self._built:
            self._build()
        found: list[tuple[int, int]] = []
        at = bisect.bisect_right(self.heading_starts, position) - 1
        while at >= 0 and len(found) < 3:
            start, end, _ = self.headings[at]
            found.append((start, end))
            at = self.parents[at]
        return found

    def shared(self, terms: Sequence[str], span: tuple[int, int], headings: bool = True) -> int:
        """How many of the terms the span (and the headings above it) holds at word starts."""
        parts = [self.lowered[span[0] : span[1]]]
        if headings:
            parts += [self.lowered[s:e] for s, e in self.ancestors(span[0])]
        text = "\n".join(parts)
        return sum(1 for term in terms if term in text and _count_words(text, term, 1))

    def passages_with(self, terms: Sequence[str], per_term: int = 6) -> list[tuple[int, int]]:
        spans: dict[tuple[int, int], None] = {}
        for term in terms:
            position = _word_at(self.lowered, term, 0)
            for _ in range(per_term):
                if position < 0:
                    break
                spans.setdefault(self.passage(position))
                position = _word_at(self.lowered, term, position + len(term))
        return list(spans)

    def figure_of_kind(
        self, span: tuple[int, int], kind: tuple[str, int], not_this: NumberToken
    ) -> NumberToken | None:
        """A figure of the same kind as the claim's, other than it: in the headings above the passage
        (a changelog entry's release), else in the passage."""
        text = self.doc.text
        for start, end in [*self.ancestors(span[0]), span]:
            for token in find_numbers(text, start, end):
                same = _kind(token) == kind and token.digits != not_this.digits
                if same and not _in_url(text, token.start):
                    return token
        return None

    def figures_of_kind(
        self, span: tuple[int, int], kind: tuple[str, int], not_this: NumberToken
    ) -> list[NumberToken]:
        """Every figure of the claim's kind, other than it, in the passage and its headings."""
        text = self.doc.text
        return [
            token
            for start, end in [*self.ancestors(span[0]), span]
            for token in find_numbers(text, start, end)
            if _kind(token) == kind and token.digits != not_this.digits and not _in_url(text, token.start)
        ]

    def show(self, span: tuple[int, int], limit: int = 300) -> str:
        """The passage as a reviewer reads it: the headings above it, then its text."""
        parts = [self.doc.text[s:e] for s, e in reversed(self.ancestors(span[0])) if e <= span[0]]
        text = " ".join(" ".join([*parts, self.doc.text[span[0] : span[1]]]).split())
        return text if len(text) <= limit else text[: limit - 1] + "…"


_ITEM_LINE = re.compile(r"[ \t]*(?:[-*+|][ \t]|\d+[.)]?[ \t]{1,8}\S)")


def item_at(lowered: str, position: int) -> tuple[int, int] | None:
    """The span of the list item or table row holding `position`, or None if it is in prose."""
    start = lowered.rfind("\n", 0, position) + 1
    if not _ITEM_LINE.match(lowered, start):
        return None
    if lowered[start : start + 40].lstrip(" \t").startswith("|"):
        return _table_at(lowered, start)
    indent = len(lowered[start:position]) - len(lowered[start:position].lstrip(" \t"))
    end = lowered.find("\n", position)
    while 0 <= end < start + _MAX_PASSAGE:  # continuation lines are indented deeper than the marker
        following = lowered.find("\n", end + 1)
        line = lowered[end + 1 : len(lowered) if following < 0 else following]
        stripped = line.lstrip(" \t")
        if not stripped or len(line) - len(stripped) <= indent or _ITEM_LINE.match(line):
            break
        end = following
    return start, len(lowered) if end < 0 else end


def _paragraph_near(lowered: str, position: int) -> tuple[int, int]:
    """Up to _NEAR characters each side of `position`, within its paragraph (found locally)."""
    low = max(0, position - _NEAR)
    before = lowered.rfind("\n\n", low, position)
    after = lowered.find("\n\n", position, position + _NEAR)
    return (low if before < 0 else before + 2), (position + _NEAR if after < 0 else after)


def _table_at(lowered: str, row: int) -> tuple[int, int]:
    """A table row's passage: the whole table and the paragraph that introduces it, for a row's
    subject is usually in its caption or header, not in its cells."""
    start = row
    while start > 0:
        previous = lowered.rfind("\n", 0, start - 1) + 1
        if not lowered[previous:start].lstrip(" \t").startswith("|"):
            break
        start = previous
    caption = lowered.rfind("\n\n", max(0, start - _MAX_PASSAGE // 2), max(0, start - 2))
    start = caption + 2 if caption >= 0 else max(0, start - _MAX_PASSAGE // 2)
    end = lowered.find("\n\n", row)
    return start, min(len(lowered) if end < 0 else end, row + _MAX_PASSAGE)


def _word_at(text: str, term: str, start: int) -> int:
    """The first place from `start` where a word starts with `term` ('puts' is not in 'inputs')."""
    position = text.find(term, start)
    while position > 0 and text[position - 1].isalnum():
        position = text.find(term, position + 1)
    return position


def _count_words(text: str, term: str, enough: int) -> int:
    """How many words start with `term`, counting no further than `enough`."""
    found = 0
    position = _word_at(text, term, 0)
    while position >= 0 and found < enough:
        found += 1
        position = _word_at(text, term, position + len(term))
    return found


def _in_url(text: str, position: int) -> bool:
    word_start = max(
        text.rfind(" ", 0, position), text.rfind("\n", 0, position), text.rfind("(", 0, position)
    )
    return _URL_START.search(text, word_start + 1, position) is not None


def _index(doc: SourceDocument) -> _Index | None:
    lowered = doc.lowered
    if lowered is None:
        return None
    index = doc.context_index
    if index is None:
        index = _Index(doc, lowered)
        doc.context_index = index
    return index if isinstance(index, _Index) else None
