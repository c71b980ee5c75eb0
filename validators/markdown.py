"""Read a markdown draft into sentences, citation markers, quotes, numbers and URLs, with offsets.

Markdown syntax must never be mistaken for a claim: code (fenced or inline) is not prose, a link's
text is not a citation, a link's target is a URL and not a number, table rows and list items are
sentences of their own, list numbering and dates are not figures.

Offsets always refer to the draft as given. Masked regions are blanked with spaces in working copies
so that every offset stays valid.
"""

from __future__ import annotations

import bisect
import itertools
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field

from prefect_review_gate.validators.text import NumberToken, UrlToken, find_numbers, find_urls

__all__ = ["Citation", "Draft", "Footnote", "Quote", "Scope", "Sentence", "parse_draft"]


@dataclass(frozen=True, slots=True)
class Citation:
    """One id inside a citation marker: `[a, b]` gives two, each with the span of the id alone."""

    source_id: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Quote:
    """A passage in double quotes; the span excludes the quote marks. Read its text from the draft:
    the parser's working copy has inline code blanked."""

    start: int
    end: int


@dataclass(slots=True)
class Sentence:
    """A sentence (or table row, heading, list item sentence) and what it contains."""

    start: int
    end: int
    citations: list[Citation] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    numbers: list[NumberToken] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    """Labels of the footnotes it calls (`[^1]` gives '1'), in order."""
    scope: Scope | None = None
    """For a sentence with no marker of its own: the sentence whose marker a reader takes to cover it."""

    @property
    def cited_ids(self) -> list[str]:
        return list(dict.fromkeys(c.source_id for c in self.citations))


@dataclass(frozen=True, slots=True)
class Scope:
    """Why a sentence without a marker is read as cited: `sentence` (an index) holds the marker.

    `kind` is 'next' (a later sentence of the same paragraph or item cites), 'list' (a list item under
    a lead-in ending in ':'), or 'table' (a row under a header that cites).
    """

    sentence: int
    kind: str


@dataclass(frozen=True, slots=True)
class Footnote:
    """A footnote definition `[^label]: text`; the span is its text, continuation lines included."""

    label: str
    start: int
    end: int


@dataclass(slots=True)
class Draft:
    text: str
    sentences: list[Sentence]
    citations: list[Citation]
    urls: list[UrlToken]
    footnotes: dict[str, Footnote] = field(default_factory=dict)


_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]{0,3}\1[`~]*[ \t]*$|\Z)", re.M | re.S)
_INLINE_CODE = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_LINK_TARGET = re.compile(r"\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")
_MARKER = re.compile(r"\[([a-z0-9][a-z0-9._-]*(?:[ \t]*,[ \t]*[a-z0-9][a-z0-9._-]*)*)\]")
_ID_IN_MARKER = re.compile(r"[a-z0-9][a-z0-9._-]*")
_REFERENCE_DEFINITION = re.compile(r"^[ \t]{0,3}\[([^\]\n]+)\]:[ \t]", re.M)
_TASK_BOX = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+$")
_FOOTNOTE_CALL = re.compile(r"\[\^([^\]\s]{1,40})\](?!:)")
_FOOTNOTE_DEFINITION = re.compile(r"^[ \t]{0,3}\[\^([^\]\s]{1,40})\]:[ \t]*", re.M)
_FOOTNOTE_END = re.compile(r"\n(?![ \t]+\S)(?=[ \t]*\S)|\n[ \t]*\n|\Z")

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
# The look-ahead lists every letter a date can start with (months, Q, H) besides digits: capitals
# that start no date are rejected before the alternatives are tried.
_DATE = re.compile(
    rf"(?=[ADFHJMNOQS\d])\b(?:{_MONTH}[ \t]+{_DAY},?[ \t]+\d{{4}}|{_DAY}[ \t]+{_MONTH},?[ \t]+\d{{4}}"
    rf"|{_MONTH},?[ \t]+\d{{4}}"
    rf"|{_MONTH}[ \t]+{_DAY}\b|(?:Q[1-4]|H[12])[ \t]+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}(?:T[\d:.]+Z?)?"
    rf"|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})"
)
_LIST_NUMBER = re.compile(r"^([ \t]*>?[ \t]*)(\d+(?:\.\d+)*[.)])(?=[ \t])", re.M)
_HEADING_NUMBER = re.compile(r"^([ \t]*#{1,6}[ \t]+)(\d+(?:\.\d+)*\.?)(?=[ \t])", re.M)

_HEADING = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t]|$)")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
_TABLE_ROW = re.compile(r"[ \t]*\|")
_TABLE_RULE = re.compile(r"[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*")
_THEMATIC_BREAK = re.compile(r"[ \t]*(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|=+)[ \t]*")

_SENTENCE_END = re.compile(r"[.!?]+[\"\u201d\u2019')\]*_]*(?=\s|$)")
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "eg",
        "ie",
        "vs",
        "cf",
        "approx",
        "etc",
        "al",
        "fig",
        "no",
        "nos",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "inc",
        "ltd",
        "co",
        "corp",
        "jr",
        "sr",
        "st",
        "vol",
        "pp",
        "ca",
    ]
)
_LETTERS_AND_DOTS = string.ascii_letters + "."


_NOT_NEWLINE = re.compile(r"[^\n]")
_NON_SPACE = re.compile(r"\S")
_ALNUM = re.compile(r"[^\W_]")
# Single curly quotes too: an opening one not after a letter or digit, a closing one not before
# (it\u2019s, we\u2019re are apostrophes); those tests are made on each hit (`_is_quote_mark`): as
# look-arounds in the pattern they kept `re` from skipping ahead to the marks, at 2 ms a draft.
_QUOTE_MARK = re.compile('["\u201c\u201d\u2018\u2019]')


def _blanked(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with each span replaced by spaces, keeping line breaks (line structure carries meaning)."""
    parts, position = [], 0
    for start, end in sorted(spans):
        start = max(start, position)
        if start >= end:
            continue
        span = text[start:end]
        # Most spans (citation markers, dates, URLs) are one line: spaces need no pattern.
        blank = _NOT_NEWLINE.sub(" ", span) if "\n" in span else " " * len(span)
        parts += [text[position:start], blank]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _spans(pattern: re.Pattern[str], text: str, group: int = 0) -> list[tuple[int, int]]:
    return [(m.start(group), m.end(group)) for m in pattern.finditer(text)]


def _skip_spaces(text: str, position: int, end: int) -> int:
    """The first non-space position in text[position:end], or `end`."""
    # Nearly always there is no space or one (after a sentence's end): looked at before the pattern.
    for index in (position, position + 1):
        if index >= end or not text[index].isspace():  # str.isspace and re's \s agree
            return min(index, end)
    m = _NON_SPACE.search(text, position + 2, end)
    return m.start() if m else end


def parse_draft(text: str) -> Draft:
    """Split a markdown draft into sentences carrying their citations, quotes and numbers."""
    # Each pass is skipped when its marker is absent: most drafts have no code or comments.
    prose = text
    if "```" in prose or "~~~" in prose:
        prose = _blanked(prose, _spans(_FENCE, prose))
    if "<!--" in prose:
        prose = _blanked(prose, _spans(_HTML_COMMENT, prose))
    if "`" in prose:
        prose = _blanked(prose, _spans(_INLINE_CODE, prose))

    # URLs are checked wherever they are, code included: a fabricated address in a code block is
    # still fabricated. Everything else reads only prose.
    urls = find_urls(text)
    hidden = [(url.start, url.end) for url in find_urls(prose)]
    if "](" in prose:
        hidden += _spans(_LINK_TARGET, prose, 1)
    prose = _blanked(prose, hidden)

    citations, marker_spans = _find_citations(prose)
    calls, footnotes = _find_footnotes(prose) if "[^" in prose else ([], {})
    scans = _Scans.of(prose, _figures_view(prose, [*marker_spans, *((c[1], c[2]) for c in calls)]))
    marker_ends = dict(marker_spans)
    sentences = []
    block_of: list[int] = []  # the index in `blocks` of each sentence
    blocks, kinds = _blocks(prose)
    for index, (start, end, splittable) in enumerate(blocks):
        found = _sentences(prose, scans, start, end, splittable, marker_ends)
        sentences.extend(found)
        block_of.extend([index] * len(found))
    by_position = sorted(citations, key=lambda c: c.start)
    index = 0
    for sentence in sentences:
        while index < len(by_position) and by_position[index].start < sentence.end:
            if by_position[index].start >= sentence.start:
                sentence.citations.append(by_position[index])
            index += 1
    if calls:
        starts = [sentence.start for sentence in sentences]
        for label, call_start, _ in calls:
            if not label:
                continue  # a definition's own label
            at = bisect.bisect_right(starts, call_start) - 1
            if at >= 0 and call_start < sentences[at].end and label not in sentences[at].footnotes:
                sentences[at].footnotes.append(label)
    _assign_scopes(prose, sentences, block_of, blocks, kinds)
    return Draft(text=text, sentences=sentences, citations=by_position, urls=urls, footnotes=footnotes)


def _find_footnotes(prose: str) -> tuple[list[tuple[str, int, int]], dict[str, Footnote]]:
    """(label, start, end) of every footnote call, and each definition by label (the first one wins)."""
    definitions: dict[str, Footnote] = {}
    label_spans = []
    for m in _FOOTNOTE_DEFINITION.finditer(prose):
        end = _FOOTNOTE_END.search(prose, m.end())
        label_spans.append((m.start(), m.end()))
        definitions.setdefault(m.group(1), Footnote(m.group(1), m.end(), end.start() if end else len(prose)))
    calls = [(m.group(1), m.start(), m.end()) for m in _FOOTNOTE_CALL.finditer(prose)]
    return calls + [("", s, e) for s, e in label_spans], definitions


def _find_citations(prose: str) -> tuple[list[Citation], list[tuple[int, int]]]:
    citations: list[Citation] = []
    spans: list[tuple[int, int]] = []
    # `[a][b]` is a reference link only when `[b]: url` is defined; otherwise two citations.
    defined = {label.lower() for label in _REFERENCE_DEFINITION.findall(prose)} if "]:" in prose else set()
    for m in _MARKER.finditer(prose):
        after = prose[m.end() : m.end() + 1]
        if after == "(":
            continue  # a link: [text](url)
        if after == "[" and _label_at(prose, m.end()) in defined:
            continue  # the text of a reference link: [text][ref]
        if prose[m.start() - 1 : m.start()] == "]" and m.group(1).lower() in defined:
            continue  # the label of a reference link
        if after == ":" and not _line_before(prose, m.start()).strip():
            continue  # a link reference definition: [id]: https://...
        if m.group(1) == "x" and _TASK_BOX.match(_line_before(prose, m.start())):
            continue  # a task list box: - [x] done
        spans.append((m.start(), m.end()))
        if "," not in m.group(1):  # one id, by far the most common marker
            citations.append(Citation(m.group(1), m.start(1), m.end(1)))
            continue
        for id_match in _ID_IN_MARKER.finditer(m.group(1)):
            offset = m.start(1) + id_match.start()
            citations.append(Citation(id_match.group(), offset, offset + len(id_match.group())))
    return citations, spans


def _line_before(prose: str, position: int) -> str:
    """The text from the start of `position`'s line up to it."""
    return prose[prose.rfind("\n", 0, position) + 1 : position]


def _label_at(prose: str, position: int) -> str:
    """The text of the bracket pair opening at `position`, lower-cased ('' when it does not close)."""
    end = prose.find("]", position, position + 200)
    return prose[position + 1 : end].lower() if end > position else ""


def _figures_view(prose: str, marker_spans: list[tuple[int, int]]) -> str:
    """The prose with everything blanked that holds digits but is not a figure."""
    spans = [*marker_spans, *_spans(_DATE, prose), *_spans(_LIST_NUMBER, prose, 2)]
    if "#" in prose:
        spans += _spans(_HEADING_NUMBER, prose, 2)
    return _blanked(prose, spans)


def _blocks(prose: str) -> tuple[list[tuple[int, int, bool]], list[str]]:
    """(start, end, splittable) of each block: paragraph, list item, heading or table row; and each
    block's kind (see `_block_kind`), read from the line tests made here anyway.

    Headings and table rows are one sentence each: a marker in a row's last cell covers the row.
    """
    blocks: list[tuple[int, int, bool]] = []
    kinds: list[str] = []
    current: list[int] | None = None  # [start, end] of the open paragraph or list item
    pos = 0
    for line in prose.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        if not line.strip() or _TABLE_RULE.fullmatch(line) or _THEMATIC_BREAK.fullmatch(line):
            current = None
            continue
        if _HEADING.match(line) or _TABLE_ROW.match(line):
            current = None
            blocks.append((start, end, False))
            kinds.append(_block_kind(prose, start))
            continue
        # Neither a table row nor a heading (the line tests above hold for `prose` from `start` too:
        # none of these patterns reads past the line): a list item or a paragraph.
        item = _LIST_ITEM.match(line)
        if current is None or item:
            current = [start, end]
            blocks.append((start, end, True))
            kinds.append("list" if item else "paragraph")
        else:
            current[1] = end
            blocks[-1] = (current[0], end, True)
    return blocks, kinds


def _assign_scopes(
    prose: str,
    sentences: list[Sentence],
    block_of: list[int],
    blocks: list[tuple[int, int, bool]],
    kinds: list[str],
) -> None:
    """Give each sentence without a marker the sentence whose marker a reader takes to cover it.

    In order: a later sentence of the same block (a marker at a paragraph's end covers it); for a
    table row, the table's header row; for a list item, the item it is nested under or, at the top of
    a list, the paragraph before it, when that lead-in ends in ':'. The scope is a sentence, not its
    ids: a lead-in may itself be covered by another, which the checks follow.
    """
    last_of_block: dict[int, int] = {}
    for index, block in enumerate(block_of):
        last_of_block[block] = index
    parents = _parent_blocks(prose, blocks, kinds)
    next_cited: int | None = None
    for index in range(len(sentences) - 1, -1, -1):
        sentence = sentences[index]
        if index + 1 < len(sentences) and block_of[index + 1] != block_of[index]:
            next_cited = None
        if sentence.citations:
            next_cited = index
            continue
        if next_cited is not None:
            sentence.scope = Scope(next_cited, "next")
            continue
        parent = parents[block_of[index]]
        if parent is not None and parent[0] in last_of_block:
            sentence.scope = Scope(last_of_block[parent[0]], parent[1])


def _block_kind(prose: str, start: int) -> str:
    if _TABLE_ROW.match(prose, start):
        return "table"
    if _HEADING.match(prose, start):
        return "heading"
    return "list" if _LIST_ITEM.match(prose, start) else "paragraph"


def _indent(prose: str, start: int) -> int:
    return len(prose[start : start + 40]) - len(prose[start : start + 40].lstrip(" \t"))


def _parent_blocks(
    prose: str, blocks: list[tuple[int, int, bool]], kinds: list[str]
) -> list[tuple[int, str] | None]:
    """(block index, scope kind) of the header or lead-in each table row or list item sits under."""
    parents: list[tuple[int, str] | None] = [None] * len(blocks)
    leads: dict[int, bool] = {}
    header: int | None = None
    for index, (start, _, _) in enumerate(blocks):
        kind = kinds[index]
        between = prose[blocks[index - 1][1] : start] if index else ""
        follows = index > 0 and not between.strip()  # only blank lines since the block before
        if kind == "table":
            if index > 0 and kinds[index - 1] == "table" and _TABLE_RULE.fullmatch(between.strip("\n")):
                header = index - 1  # the row above a rule line is the header
            elif not (index > 0 and kinds[index - 1] == "table" and follows):
                header = None
                if index > 0 and follows and _leads_in(prose, blocks[index - 1]):
                    parents[index] = (index - 1, "list")
                continue
            if header is not None and header != index:
                parents[index] = (header, "table")
            continue
        if kind != "list":
            continue
        indent = _indent(prose, start)
        back = index - 1
        while back >= 0 and kinds[back] == "list" and _indent(prose, blocks[back][0]) >= indent:
            back -= 1
        if back < 0 or kinds[back] not in ("list", "paragraph"):
            continue
        # Only deeper items and blank lines between the lead-in and this item: the same list.
        same_list = all(not prose[blocks[i][1] : blocks[i + 1][0]].strip() for i in range(back, index))
        if not same_list:
            continue
        if back not in leads:  # the lead-in of every item of a list: read once
            leads[back] = _leads_in(prose, blocks[back])
        if leads[back]:
            parents[index] = (back, "list")
        elif kinds[back] == "list":  # nested under an item that does not lead in: under its lead-in
            parents[index] = parents[back]
    return parents


def _leads_in(prose: str, block: tuple[int, int, bool]) -> bool:
    """True when a block ends in ':' (its markers aside): it introduces what follows."""
    tail = _MARKER.sub("", prose[max(block[0], block[1] - 200) : block[1]]).rstrip(" \t\n*_")
    return tail.endswith(":")


@dataclass(frozen=True, slots=True)
class _Scans:
    """Quote marks and figures of the whole draft, each found in one pass and then read by block.

    One pass instead of one per block saves a call per block; the result is the same because a
    number never spans a line break and blocks are whole lines (lines outside blocks hold no
    digits: blank lines, table rules, thematic breaks).
    """

    quote_marks: list[int]  # positions of straight and curly double quotes, curly single quotes
    numbers: list[NumberToken]  # from the figures view
    number_starts: list[int]

    @classmethod
    def of(cls, prose: str, figures: str) -> _Scans:
        numbers = find_numbers(figures)
        marks = [m.start() for m in _QUOTE_MARK.finditer(prose) if _is_quote_mark(prose, m.start())]
        return cls(marks, numbers, [n.start for n in numbers])

    def quote_marks_in(self, start: int, end: int) -> list[int]:
        return self.quote_marks[
            bisect.bisect_left(self.quote_marks, start) : bisect.bisect_left(self.quote_marks, end)
        ]

    def numbers_in(self, start: int, end: int) -> list[NumberToken]:
        """Number tokens starting in [start, end)."""
        first = bisect.bisect_left(self.number_starts, start)
        return self.numbers[first : bisect.bisect_left(self.number_starts, end, first)]


def _is_quote_mark(prose: str, position: int) -> bool:
    """False for a curly apostrophe: \u2018 right after, or \u2019 right before, a letter or digit
    (str.isalnum is the pattern class [^\\W_])."""
    c = prose[position]
    if c == "\u2018":
        return position == 0 or not prose[position - 1].isalnum()
    if c == "\u2019":
        return not prose[position + 1 : position + 2].isalnum()
    return True


def _quotes(prose: str, marks: list[int]) -> list[Quote]:
    """Quoted passages in a block: curly quotes (double or single) pair up, straight double quotes
    alternate. A single quote inside a double-quoted passage is part of it, and listed too."""
    quotes = []
    open_straight: int | None = None
    open_curly: int | None = None
    open_single: int | None = None
    for i in marks:
        c = prose[i]
        if c == '"':
            if open_straight is None:
                open_straight = i
            else:
                quotes.append((open_straight + 1, i))
                open_straight = None
        elif c == "\u201c":
            open_curly = i
        elif c == "\u201d":
            if open_curly is not None:
                quotes.append((open_curly + 1, i))
                open_curly = None
        elif c == "\u2018":
            open_single = i
        elif open_single is not None:  # a closing single quote
            quotes.append((open_single + 1, i))
            open_single = None
    return [Quote(s, e) for s, e in sorted(quotes) if _ALNUM.search(prose, s, e)]


def _is_abbreviation(prose: str, block_start: int, dot: int, next_char: str) -> bool:
    # The word before the dot: letters and dots up to it (or up to a line break just before it, as
    # '$' allows), from the first letter. What r"[A-Za-z][A-Za-z.]*$" finds, which `re` tried at
    # each of the 24 positions before the dot.
    before = prose[max(block_start, dot - 24) : dot].removesuffix("\n")
    written = before[len(before.rstrip(_LETTERS_AND_DOTS)) :].lstrip(".")
    if not written:
        return False
    word = written.lower().rstrip(".")
    if word == "etc":
        return not next_char.isupper()
    return word in _ABBREVIATIONS or (len(word) == 1 and written.isupper())


def _sentences(
    prose: str,
    scans: _Scans,
    start: int,
    end: int,
    splittable: bool,
    marker_ends: dict[int, int],
) -> list[Sentence]:
    quotes = _quotes(prose, scans.quote_marks_in(start, end))
    cuts = [start]
    if splittable:
        for m in _SENTENCE_END.finditer(prose, start, end):
            cut = m.end()
            if quotes and any(q.start <= m.start() < q.end for q in quotes):
                continue
            next_pos = _skip_spaces(prose, cut, end)
            if next_pos >= end:
                continue
            if prose[m.start()] == "." and _is_abbreviation(prose, start, m.start(), prose[next_pos]):
                continue
            # A marker written after the period still belongs to the sentence before it.
            while next_pos in marker_ends:
                cut = marker_ends[next_pos]
                while cut < end and prose[cut] in ".,;:":
                    cut += 1
                next_pos = _skip_spaces(prose, cut, end)
            if next_pos < end:
                cuts.append(cut)
    cuts.append(end)
    sentences = []
    for s, e in itertools.pairwise(cuts):
        s = _skip_spaces(prose, s, e)
        while e > s and prose[e - 1].isspace():
            e -= 1
        if s >= e:
            continue
        inner = [q for q in quotes if s <= q.start and q.end <= e]
        numbers = scans.numbers_in(s, e)
        if inner:  # a figure inside a quote is the quote's wording, checked with it
            numbers = [n for n in numbers if not any(q.start <= n.start < q.end for q in inner)]
        sentences.append(Sentence(s, e, quotes=inner, numbers=numbers))
    return sentences
