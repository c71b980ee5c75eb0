"""Claude's own citations: does every span a Messages API response cites hold the text it says it cites?

With citations enabled, Claude answers in text blocks whose `citations` point into the documents of the
request. The API fills `cited_text` itself, so a citation whose span and text disagree, or that points
past the documents sent, means the documents given here are not the ones Claude read (wrong order, a
re-encoded copy) or the response was altered; either way the claim is not grounded as it appears.

Codes:
  citation_mismatch   block  the cited text is not in the cited document (nor at its span)
  citation_offset     info   the span holds the cited text once counted in UTF-16 units or UTF-8 bytes
                      warn   the span does not hold the cited text, but the document does, elsewhere
  unknown_document    block  the cited document does not exist in the documents sent, or the span is
                             malformed (negative, reversed) or past the end with the text nowhere in it
  uncited_number      warn   a sentence states a number and no citation covers it
  unchecked_citation  info   a citation this offline check cannot resolve (PDF pages, search results)

How the API counts (platform docs, "Citations"):
  char_location           `document_index` counts the document blocks of the request in order;
                          `[start_char_index, end_char_index)` is 0-based with an exclusive end, in
                          characters of the document's `source.data`. The docs do not say what a
                          character is. Spans are read first as Python str offsets (code points); when
                          that slice is not the cited text, as UTF-16 code units (what a JavaScript or
                          Java string counts), then as UTF-8 bytes, each also a few characters off.
                          A unit that explains the span is reported (info), not blocked: otherwise every
                          citation after a `·`, `—` or emoji would be a false mismatch. The cited text is
                          what the claim rests on, so a span that is merely off (warn) does not block
                          either; only cited text that the cited document does not hold blocks.
  content_block_location  `[start_block_index, end_block_index)` indexes the source's `content` list;
                          `cited_text` is the text of those blocks joined with no separator.
  page_location           1-based PDF pages: there is no text here to compare against.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from prefect_review_gate.validators.errors import InputError
from prefect_review_gate.validators.findings import Code, Finding, Severity
from prefect_review_gate.validators.markdown import Sentence, parse_draft
from prefect_review_gate.validators.text import NumberToken, find_numbers

__all__ = ["CITATION_OFFSET", "UNCHECKED_CITATION", "response_text", "validate_claude_citations"]

UNCHECKED_CITATION = Code.UNCHECKED_CITATION.value
"""Finding code (severity info) of a citation that cannot be checked offline."""

CITATION_OFFSET = "citation_offset"
"""Finding code (info or warn, never block) of a span that is off while its document holds the cited text."""

_NEAR_CHARS = 8  # how far from a unit-converted span the cited text may start and still be explained

_EVIDENCE_CHARS = 240  # characters of document text shown as evidence
_QUOTE_CHARS = 60  # characters of cited text repeated in a message
_SPACES = re.compile(r"\s+")

# Citation types that point into a document of the request, and the two fields of their location.
_LOCATED = {
    "char_location": ("start_char_index", "end_char_index"),
    "content_block_location": ("start_block_index", "end_block_index"),
    "page_location": ("start_page_number", "end_page_number"),
}
# Citation types that point elsewhere (search results), with what they point into, for messages.
_ELSEWHERE = {
    "web_search_result_location": "a web search result",
    "search_result_location": "a search_result block",
}


@dataclass(frozen=True, slots=True)
class _TextDocument:
    title: str | None
    text: str


@dataclass(frozen=True, slots=True)
class _ContentDocument:
    title: str | None
    blocks: tuple[str, ...]  # the text of each content block; "" for an image

    @property
    def text(self) -> str:
        return "".join(self.blocks)


@dataclass(frozen=True, slots=True)
class _OpaqueDocument:
    """A PDF, URL or file source: its text is not in the request, so nothing can be compared."""

    title: str | None
    source_type: str


_Document = _TextDocument | _ContentDocument | _OpaqueDocument


@dataclass(frozen=True, slots=True)
class _Citation:
    pointer: str  # JSON pointer into the response, e.g. /content/2/citations/0
    kind: str
    cited_text: str
    document_index: int | None  # None when the citation points outside the request's documents
    start: int  # meaning depends on kind: character, block or page
    end: int
    title: str | None


@dataclass(frozen=True, slots=True)
class _TextBlock:
    start: int  # offsets of the block in the concatenated response text
    end: int
    citations: tuple[_Citation, ...]


@dataclass(frozen=True, slots=True)
class _Response:
    text: str
    blocks: tuple[_TextBlock, ...]


def validate_claude_citations(response: object, documents: Sequence[object]) -> list[Finding]:
    """Check the citations of a Messages API response against the documents the request sent.

    Args:
        response: the response as a dict (the API's JSON) or an object with `model_dump()` (the SDK's
            `anthropic.types.Message`).
        documents: what the request sent, in order: plain text strings, or document blocks as dicts
            (`{"type": "document", "source": {"type": "text", "data": ...}}`, or a `"content"` source
            holding a list of content blocks). PDF, URL and file sources may be passed to keep the
            indices right; their citations are reported as unchecked.

    Returns:
        Findings ordered by position. `start`/`end` are Python str offsets into `response_text(response)`,
        the concatenation of the response's text blocks in order; a citation finding spans the text
        block that carries the citation and names the citation in `pointer` (`/content/<i>/citations/<j>`,
        where `<i>` counts every content block of the response, not only text blocks). `source_ids`
        hold document indices as strings.

    Raises:
        InputError: `response` is not a Messages API response, a citation lacks a field, or a document
            is neither a string nor a document block.
    """
    parsed = _read_response(response)
    sent = _read_documents(documents)
    findings = [*_check_citations(parsed, sent), *_check_numbers(parsed)]
    return sorted(findings, key=lambda f: (f.start or 0, f.end or 0, f.code, f.pointer or ""))


def response_text(response: object) -> str:
    """The response's text blocks concatenated in order: the text finding offsets refer to.

    Raises:
        InputError: `response` is not a Messages API response.
    """
    return _read_response(response).text


# --- reading input --------------------------------------------------------------------------------


def _as_mapping(value: object, what: str) -> Mapping[str, object]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        dumped = dump()
        if isinstance(dumped, Mapping):
            return dumped
    raise InputError(f"{what} must be a dict or a pydantic model, not {type(value).__name__}")


def _read_response(response: object) -> _Response:
    message = _as_mapping(response, "the response")
    kind = message.get("type", "message")
    if kind != "message":
        raise InputError(f"the response has type {kind!r}, not 'message': pass the whole Messages response")
    content = message.get("content")
    if not isinstance(content, Sequence) or isinstance(content, str | bytes):
        raise InputError("the response has no 'content' list: is it a Messages API response?")
    parts: list[str] = []
    blocks: list[_TextBlock] = []
    offset = 0
    for i, raw in enumerate(content):
        block = _read_text_block(raw, i)
        if block is None:
            continue
        text, citations = block
        blocks.append(_TextBlock(offset, offset + len(text), citations))
        parts.append(text)
        offset += len(text)
    return _Response("".join(parts), tuple(blocks))


def _read_text_block(raw: object, index: int) -> tuple[str, tuple[_Citation, ...]] | None:
    """(text, citations) of a text block; None for the other block types (tool use, thinking...)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
        raise InputError(f"/content/{index} of the response is not a content block with a 'type'")
    if raw["type"] != "text":
        return None
    text = raw.get("text")
    if not isinstance(text, str):
        raise InputError(f"text block /content/{index} of the response has no 'text' string")
    citations = raw.get("citations")
    if citations is None:
        return text, ()
    if not isinstance(citations, Sequence) or isinstance(citations, str | bytes):
        raise InputError(f"/content/{index}/citations of the response is not a list")
    pointer = f"/content/{index}/citations"
    return text, tuple(_read_citation(c, f"{pointer}/{j}") for j, c in enumerate(citations))


def _read_citation(raw: object, pointer: str) -> _Citation:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
        raise InputError(f"citation {pointer} is not an object with a 'type'")
    kind: str = raw["type"]
    cited = raw.get("cited_text")
    title = raw.get("document_title", raw.get("title"))
    title = title if isinstance(title, str) else None
    if kind not in _LOCATED:
        # Search-result and future citation types are reported, not read: no field is required.
        return _Citation(pointer, kind, cited if isinstance(cited, str) else "", None, 0, 0, title)
    if not isinstance(cited, str):
        raise InputError(f"citation {pointer} ({kind}) lacks a 'cited_text' string")
    index, start, end = (_int_field(raw, name, pointer, kind) for name in ("document_index", *_LOCATED[kind]))
    return _Citation(pointer, kind, cited, index, start, end, title)


def _int_field(raw: Mapping[str, object], name: str, pointer: str, kind: str) -> int:
    value = raw.get(name)
    # bool is an int subclass, but `true` is no index.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"citation {pointer} ({kind}) lacks an integer '{name}'")
    return value


def _read_documents(documents: Sequence[object]) -> list[_Document]:
    # A lone string is a Sequence too; taking it for a list of one-character documents would be silent.
    if not isinstance(documents, Sequence) or isinstance(documents, str | bytes):
        raise InputError("documents must be a list of the documents the request sent, in order")
    return [_read_document(doc, i) for i, doc in enumerate(documents)]


def _read_document(doc: object, index: int) -> _Document:
    if isinstance(doc, str):
        return _TextDocument(None, doc)
    block = _as_mapping(doc, f"document {index}")
    title = block.get("title")
    title = title if isinstance(title, str) else None
    source = block.get("source")
    if not isinstance(source, Mapping) or not isinstance(source.get("type"), str):
        raise InputError(
            f"document {index} has no 'source' with a 'type': pass its text or its block as sent"
        )
    if source["type"] == "text":
        data = source.get("data")
        if not isinstance(data, str):
            raise InputError(f"document {index} has a text source without a 'data' string")
        return _TextDocument(title, data)
    if source["type"] == "content":
        return _ContentDocument(title, _content_blocks(source.get("content"), index))
    return _OpaqueDocument(title, source["type"])


def _content_blocks(content: object, index: int) -> tuple[str, ...]:
    if isinstance(content, str):
        return (content,)  # assumed to be one text block, the way the API reads a string content
    if not isinstance(content, Sequence) or isinstance(content, bytes):
        raise InputError(f"document {index} has a content source without a 'content' list")
    blocks = []
    for j, block in enumerate(content):
        if not isinstance(block, Mapping):
            raise InputError(f"block {j} of document {index} is not a content block")
        text = block.get("text", "") if block.get("type") == "text" else ""
        if not isinstance(text, str):
            raise InputError(f"text block {j} of document {index} has no 'text' string")
        blocks.append(text)  # an image still takes an index, so it stays in the list as ""
    return tuple(blocks)


# --- citations ------------------------------------------------------------------------------------


def _check_citations(response: _Response, documents: list[_Document]) -> list[Finding]:
    findings = []
    for block in response.blocks:
        for citation in block.citations:
            finding = _check_citation(citation, documents)
            if finding is not None:
                span = {"start": block.start, "end": block.end, "pointer": citation.pointer}
                findings.append(finding.model_copy(update=span))
    return findings


def _check_citation(citation: _Citation, documents: list[_Document]) -> Finding | None:
    """The finding about one citation, without its location (the caller adds span and pointer)."""
    if citation.document_index is None:
        where = _ELSEWHERE.get(citation.kind)
        if where is None:  # a type newer than this check: say so rather than fail a valid response
            return _unchecked(f"citation of unknown type {citation.kind!r} not checked")
        return _unchecked(f"{citation.kind} citation not checked: it points into {where}, not a document")
    index = citation.document_index
    if not 0 <= index < len(documents):
        return _unknown(citation, f"cites document {index}, but {_count(len(documents))} sent", documents)
    document = documents[index]
    label = _label(index, document.title or citation.title)
    if citation.kind == "page_location":
        return _unchecked(
            f"page_location citation of {label} not checked: PDF pages are not text here", index
        )
    if isinstance(document, _OpaqueDocument):
        return _unchecked(
            f"{citation.kind} citation of {label} not checked: it was sent as a "
            f"{document.source_type!r} source, whose text is not available here",
            index,
        )
    if citation.kind == "char_location":
        return _check_char_span(citation, document, label, documents)
    return _check_block_span(citation, document, label, documents)


def _check_char_span(
    citation: _Citation, document: _TextDocument | _ContentDocument, label: str, documents: list[_Document]
) -> Finding | None:
    if isinstance(document, _ContentDocument):
        return _unknown(citation, f"gives characters of {label}, which was sent as content blocks", documents)
    text, start, end = document.text, citation.start, citation.end
    span = f"characters [{start}, {end}) of {label}"
    if not 0 <= start <= end:
        return _unknown(
            citation, f"cites characters [{start}, {end}) of {label}, which has {len(text)}", documents
        )
    if end <= len(text) and _same_text(text[start:end], citation.cited_text):
        return None
    explained = _unit_explaining(text, start, end, citation.cited_text)
    if explained is not None:
        unit, (first, last) = explained
        return Finding(
            code=CITATION_OFFSET,
            severity=Severity.INFO,
            message=f"{span} counted in {unit} hold the cited text {_quote(citation.cited_text)} "
            f"(characters [{first}, {last}) as code points): the API's offsets are read in {unit} here",
            source_ids=[str(citation.document_index)],
        )
    found = _search(citation.cited_text, text, start)
    if found is not None:
        return Finding(
            code=CITATION_OFFSET,
            severity=Severity.WARN,
            message=f"{span} do not hold the cited text {_quote(citation.cited_text)}, but the document "
            f"does, at characters [{found[0]}, {found[1]}): the span is off, the cited text is real",
            source_ids=[str(citation.document_index)],
            evidence=_trim(text[start:end]) if end <= len(text) else None,
            evidence_source=str(citation.document_index),
        )
    if end > len(text):
        return _unknown(
            citation, f"cites characters [{start}, {end}) of {label}, which has {len(text)}", documents
        )
    return _mismatch(citation, span, text[start:end], documents)


@lru_cache(maxsize=8)
def _encoded(text: str, codec: str) -> bytes:
    """A document's bytes in `codec`, kept: every citation after its first emoji asks for them again."""
    return text.encode(codec)


def _unit_explaining(text: str, start: int, end: int, cited: str) -> tuple[str, tuple[int, int]] | None:
    """The unit (UTF-16 code units, UTF-8 bytes) whose count puts the cited text at the span, if any.

    Exactly there, or starting within a few characters of where the unit puts the span's start.
    Returns the unit's name and the cited text's code-point span.
    """
    for unit, codec, width in (("UTF-16 code units", "utf-16-le", 2), ("UTF-8 bytes", "utf-8", 1)):
        encoded = _encoded(text, codec)
        if end * width > len(encoded):
            continue
        first = len(encoded[: start * width].decode(codec, errors="ignore"))
        last = len(encoded[: end * width].decode(codec, errors="ignore"))
        if first == start and last == end:
            continue  # the unit counts these characters as code points do: it explains nothing
        if _same_text(text[first:last], cited):
            return unit, (first, last)
        found = _search(cited, text, first)
        if found is not None and abs(found[0] - first) <= _NEAR_CHARS:
            return unit, found
    return None


def _check_block_span(
    citation: _Citation, document: _TextDocument | _ContentDocument, label: str, documents: list[_Document]
) -> Finding | None:
    if isinstance(document, _TextDocument):
        return _unknown(citation, f"gives content blocks of {label}, which was sent as plain text", documents)
    start, end = citation.start, citation.end
    if not 0 <= start <= end <= len(document.blocks):
        return _unknown(
            citation, f"cites blocks [{start}, {end}) of {label}, which has {len(document.blocks)}", documents
        )
    actual = "".join(document.blocks[start:end])
    if _same_text(actual, citation.cited_text):
        return None
    return _mismatch(citation, f"blocks [{start}, {end}) of {label}", actual, documents)


def _same_text(actual: str, cited: str) -> bool:
    """Exact, or equal once whitespace is collapsed: spacing is the only difference tolerated."""
    return actual == cited or _collapse(actual) == _collapse(cited)


def _collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _mismatch(citation: _Citation, span: str, actual: str, documents: list[_Document]) -> Finding:
    index = citation.document_index
    assert index is not None  # only located citations are compared
    where = _locate(citation, documents)
    hint = f"; it is {where}" if where else "; no document text sent holds it"
    return Finding(
        code=Code.CITATION_MISMATCH,
        severity=Severity.BLOCK,
        message=f"the cited text {_quote(citation.cited_text)} is not what {span} holds{hint}",
        source_ids=[str(index)],
        evidence=_trim(actual),
        evidence_source=str(index),
    )


def _unknown(citation: _Citation, problem: str, documents: list[_Document]) -> Finding:
    where = _locate(citation, documents)
    index = citation.document_index
    return Finding(
        code=Code.UNKNOWN_DOCUMENT,
        severity=Severity.BLOCK,
        message=f"a {citation.kind} citation {problem}" + (f"; its cited text is {where}" if where else ""),
        source_ids=[str(index)] if index is not None and 0 <= index < len(documents) else [],
    )


def _unchecked(message: str, index: int | None = None) -> Finding:
    return Finding(
        code=UNCHECKED_CITATION,
        severity=Severity.INFO,
        message=message,
        source_ids=[str(index)] if index is not None else [],
    )


def _locate(citation: _Citation, documents: list[_Document]) -> str:
    """Where the cited text really is, as a phrase ('' if in no document): its own document first."""
    own = citation.document_index
    order = sorted(range(len(documents)), key=lambda i: i != own)
    for i in order:
        document = documents[i]
        if isinstance(document, _OpaqueDocument):
            continue
        near = citation.start if i == own and citation.kind == "char_location" else 0
        found = _search(citation.cited_text, document.text, near)
        if found is None:
            continue
        if isinstance(document, _ContentDocument):
            first, last = _blocks_of(document, *found)
            place = f"blocks [{first}, {last})"
        else:
            place = f"characters [{found[0]}, {found[1]})"
        return f"at {place}" if i == own else f"in {_label(i, document.title)}, {place}"
    return ""


def _search(needle: str, haystack: str, near: int) -> tuple[int, int] | None:
    """The occurrence of `needle` closest to `near`, spacing tolerated as in `_same_text`."""
    words = needle.split()
    if not words:
        return None
    pattern = re.compile(r"\s+".join(re.escape(word) for word in words))
    spans = [m.span() for m in pattern.finditer(haystack)]
    return min(spans, key=lambda s: abs(s[0] - near)) if spans else None


def _blocks_of(document: _ContentDocument, start: int, end: int) -> tuple[int, int]:
    """The block range [first, last) of the joined content text that holds [start, end)."""
    bounds = [0]
    for text in document.blocks:
        bounds.append(bounds[-1] + len(text))
    # A block holds [bounds[k], bounds[k + 1]); `end` > `start`, so the range is never empty.
    return bisect_right(bounds, start) - 1, bisect_left(bounds, end)


def _label(index: int, title: str | None) -> str:
    return f'document {index} ("{title}")' if title else f"document {index}"


def _count(n: int) -> str:
    return "no documents were" if n == 0 else ("1 document was" if n == 1 else f"{n} documents were")


def _quote(text: str) -> str:
    text = _collapse(text)
    return f'"{text}"' if len(text) <= _QUOTE_CHARS else f'"{text[: _QUOTE_CHARS - 1]}…"'


def _trim(text: str) -> str:
    return text if len(text) <= _EVIDENCE_CHARS else text[: _EVIDENCE_CHARS - 1] + "…"


# --- uncited numbers ------------------------------------------------------------------------------


def _check_numbers(response: _Response) -> list[Finding]:
    draft = parse_draft(response.text)
    cited = [(b.start, b.end) for b in response.blocks if b.citations]
    findings = []
    for sentence in draft.sentences:
        numbers = _numbers(response.text, sentence)
        if not numbers or any(_overlaps(span, sentence) for span in cited):
            continue
        findings.append(
            Finding(
                code=Code.UNCITED_NUMBER,
                severity=Severity.WARN,
                message=f"this sentence states {', '.join(n.text for n in numbers)} but carries no citation",
                start=sentence.start,
                end=sentence.end,
            )
        )
    return findings


def _numbers(text: str, sentence: Sentence) -> list[NumberToken]:
    """The sentence's figures as grounding reads them (no dates, list numbering or code), quotes included.

    `parse_draft` leaves quoted numbers out because grounding checks quotes whole; here nothing else
    looks at a quote, and a quoted figure with no citation is as unsupported as any other.
    """
    quoted = [n for q in sentence.quotes for n in find_numbers(text, q.start, q.end)]
    return sorted([*sentence.numbers, *quoted], key=lambda n: n.start)


def _overlaps(span: tuple[int, int], sentence: Sentence) -> bool:
    start, end = span
    if start == end:  # an empty cited block covers the sentence it sits in
        return sentence.start <= start <= sentence.end
    return start < sentence.end and sentence.start < end
