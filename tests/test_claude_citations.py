"""Claude's own citations, checked against the documents the request sent (Messages API citations format)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from anthropic.types import Message
from hypothesis import given, settings, strategies as st

from prefect_review_gate.validators import Code, Finding, InputError, Severity, validate_claude_citations
from prefect_review_gate.validators.claude_citations import CITATION_OFFSET, UNCHECKED_CITATION, response_text

REPORT = (
    "Acme Corp quarterly report.\n"
    "Revenue grew 12% in Q3 to $4.1 million. Operating costs fell 3%.\n"
    "The company now employs 240 people across 3 offices.\n"
)
HANDBOOK = "Remote work is allowed two days a week. Laptops are replaced every 3 years."
CONTENT_DOC: dict[str, Any] = {
    "type": "document",
    "source": {
        "type": "content",
        "content": [
            {"type": "text", "text": "First chunk: the pilot ran for 6 weeks."},
            {"type": "text", "text": "Second chunk: 41 of 50 users kept using it."},
            {"type": "text", "text": "Third chunk: support tickets halved."},
        ],
    },
    "title": "Pilot notes",
    "citations": {"enabled": True},
}


def text_document(text: str, title: str | None = None) -> dict[str, Any]:
    """A plain-text document block exactly as it is sent to the Messages API."""
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": text},
        "citations": {"enabled": True},
    }
    if title:
        block["title"] = title
    return block


def char_citation(document: str, cited: str, index: int = 0, shift: int = 0, **extra: Any) -> dict[str, Any]:
    """A char_location citation of `cited` as the API returns it, its span optionally shifted."""
    start = document.index(cited) + shift
    return {
        "type": "char_location",
        "cited_text": cited,
        "document_index": index,
        "document_title": None,
        "start_char_index": start,
        "end_char_index": start + len(cited),
        **extra,
    }


def message(*blocks: dict[str, Any]) -> dict[str, Any]:
    """A Messages API response (JSON) holding `blocks` as its content."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": list(blocks),
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 2095, "output_tokens": 503},
    }


def text(value: str, *citations: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": value}
    if citations:
        block["citations"] = list(citations)
    return block


def cited_answer(citation: dict[str, Any]) -> dict[str, Any]:
    """The usual shape: an uncited lead-in, the cited claim in its own block, a closing period."""
    return message(
        text("According to the report, "),
        text("revenue grew 12% in Q3", citation),
        text("."),
    )


def codes(findings: list[Finding]) -> list[tuple[str, Severity]]:
    return [(f.code, f.severity) for f in findings]


# --- char_location --------------------------------------------------------------------------------


def test_correct_citation_gives_no_finding() -> None:
    citation = char_citation(REPORT, "Revenue grew 12% in Q3 to $4.1 million. ")
    assert validate_claude_citations(cited_answer(citation), [REPORT]) == []


def test_document_block_and_plain_string_are_read_alike() -> None:
    citation = char_citation(REPORT, "Revenue grew 12% in Q3 to $4.1 million. ")
    assert validate_claude_citations(cited_answer(citation), [text_document(REPORT, "Q3 report")]) == []


def test_a_shifted_span_whose_text_the_document_holds_warns_on_the_cited_block() -> None:
    citation = char_citation(REPORT, "Revenue grew 12% in Q3 to $4.1 million.", shift=-6)
    response = cited_answer(citation)
    [finding] = validate_claude_citations(response, [text_document(REPORT, "Q3 report")])
    # The cited text is real, only its span is off: a reviewer is told, nothing is blocked.
    assert (finding.code, finding.severity) == (CITATION_OFFSET, Severity.WARN)
    assert finding.pointer == "/content/1/citations/0"
    assert finding.start is not None and finding.end is not None
    assert response_text(response)[finding.start : finding.end] == "revenue grew 12% in Q3"
    start = citation["start_char_index"]
    assert finding.evidence == REPORT[start : start + len(citation["cited_text"])]
    assert f'characters [{start}, {start + 39}) of document 0 ("Q3 report")' in finding.message
    assert finding.source_ids == ["0"]


def test_the_offset_finding_names_where_the_cited_text_really_is() -> None:
    citation = char_citation(REPORT, "Operating costs fell 3%.", shift=10)
    [finding] = validate_claude_citations(cited_answer(citation), [REPORT])
    true_start = REPORT.index("Operating costs fell 3%.")
    assert f"at characters [{true_start}, {true_start + 24})" in finding.message
    assert not finding.blocking


def test_mismatch_names_another_document_when_the_index_is_off() -> None:
    citation = char_citation(HANDBOOK, "Laptops are replaced every 3 years.", index=0)
    documents = [REPORT, text_document(HANDBOOK, "Handbook")]
    [finding] = validate_claude_citations(message(text("Laptops last 3 years", citation)), documents)
    assert finding.code == Code.CITATION_MISMATCH
    start = HANDBOOK.index("Laptops")
    assert f'in document 1 ("Handbook"), characters [{start}, {start + 35})' in finding.message


def test_mismatch_says_when_no_document_holds_the_cited_text() -> None:
    citation = char_citation(REPORT, "Revenue grew 12%")
    citation["cited_text"] = "Revenue grew 15%"
    [finding] = validate_claude_citations(cited_answer(citation), [REPORT])
    assert finding.code == Code.CITATION_MISMATCH
    assert "no document text sent holds it" in finding.message
    assert finding.evidence == "Revenue grew 12%"


def test_long_evidence_is_trimmed() -> None:
    document = "x " * 400 + "the end"
    citation = {**char_citation(document, "the end"), "start_char_index": 0, "end_char_index": 700}
    citation["cited_text"] = "the beginning"
    [finding] = validate_claude_citations(cited_answer(citation), [document])
    assert finding.evidence is not None and len(finding.evidence) == 240 and finding.evidence.endswith("…")


@pytest.mark.parametrize(
    ("document", "cited"),
    [
        ("Revenue grew\n12% in Q3.", "Revenue grew 12% in Q3."),
        ("Revenue  grew 12%\tin Q3.", "Revenue grew 12% in Q3."),
        ("  Revenue grew 12% in Q3.\n\n", "Revenue grew 12% in Q3."),
    ],
)
def test_whitespace_only_difference_is_tolerated(document: str, cited: str) -> None:
    citation = {**char_citation(document, document), "cited_text": cited}
    assert validate_claude_citations(cited_answer(citation), [document]) == []


def test_other_differences_are_not_tolerated() -> None:
    citation = {**char_citation(REPORT, "Revenue grew 12% in Q3"), "cited_text": "revenue grew 12% in Q3"}
    assert codes(validate_claude_citations(cited_answer(citation), [REPORT])) == [
        (Code.CITATION_MISMATCH, Severity.BLOCK)
    ]


def test_code_point_offsets_give_no_finding() -> None:
    document = "Café ☕ and 🚀 launch: sales rose 7% after the launch."
    cited = "sales rose 7% after the launch."
    citation = {**char_citation(document, cited), "start_char_index": 21, "end_char_index": 52}
    assert validate_claude_citations(cited_answer(citation), [document]) == []


def _unit_span(document: str, cited: str, codec: str, width: int) -> tuple[int, int]:
    start = document.index(cited)
    first = len(document[:start].encode(codec)) // width
    return first, first + len(cited.encode(codec)) // width


# Documents like the bundled sources: `·`, `—`, and emoji outside the BMP (two UTF-16 units each).
NON_BMP = (
    "Launch notes 🚀🚀 — week 1 · 😀 smiles all round. 🧪 Tests: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 everywhere 🎉.\n"
    "Sales rose 7% after the launch 📈. The team 👩‍💻👨‍💻 shipped 3 releases.\n"
)


@pytest.mark.parametrize(
    ("codec", "width", "unit"), [("utf-16-le", 2, "UTF-16 code units"), ("utf-8", 1, "UTF-8 bytes")]
)
@pytest.mark.parametrize(
    "cited", ["Sales rose 7% after the launch 📈.", "The team 👩‍💻👨‍💻 shipped 3 releases."]
)
def test_offsets_in_utf16_units_or_utf8_bytes_are_named_not_blocked(
    codec: str, width: int, unit: str, cited: str
) -> None:
    start, end = _unit_span(NON_BMP, cited, codec, width)
    citation = {**char_citation(NON_BMP, cited), "start_char_index": start, "end_char_index": end}
    [finding] = validate_claude_citations(cited_answer(citation), [NON_BMP])
    assert (finding.code, finding.severity) == (CITATION_OFFSET, Severity.INFO)
    assert unit in finding.message


def test_a_unit_span_a_few_characters_off_is_still_explained() -> None:
    cited = "Sales rose 7% after the launch 📈."
    start, end = _unit_span(NON_BMP, cited, "utf-16-le", 2)
    citation = {**char_citation(NON_BMP, cited), "start_char_index": start + 2, "end_char_index": end + 2}
    [finding] = validate_claude_citations(cited_answer(citation), [NON_BMP])
    assert (finding.code, finding.severity) == (CITATION_OFFSET, Severity.INFO)
    assert "UTF-16" in finding.message


def test_a_span_past_the_end_in_utf16_units_is_explained_not_unknown() -> None:
    cited = "The team 👩‍💻👨‍💻 shipped 3 releases."
    start, end = _unit_span(NON_BMP, cited, "utf-16-le", 2)
    assert end > len(NON_BMP)  # past the end in code points: today an unknown_document block
    citation = {**char_citation(NON_BMP, cited), "start_char_index": start, "end_char_index": end}
    assert codes(validate_claude_citations(cited_answer(citation), [NON_BMP])) == [
        (CITATION_OFFSET, Severity.INFO)
    ]


def test_cited_text_nowhere_in_the_document_still_blocks_whatever_the_unit() -> None:
    cited = "Sales rose 7% after the launch 📈."
    start, end = _unit_span(NON_BMP, cited, "utf-16-le", 2)
    citation = {
        **char_citation(NON_BMP, cited),
        "start_char_index": start,
        "end_char_index": end,
        "cited_text": "Sales rose 9% after the launch 📈.",
    }
    assert codes(validate_claude_citations(cited_answer(citation), [NON_BMP])) == [
        (Code.CITATION_MISMATCH, Severity.BLOCK)
    ]


# --- unknown_document -----------------------------------------------------------------------------


def test_document_index_out_of_range_is_unknown_document() -> None:
    citation = char_citation(REPORT, "Revenue grew 12%", index=2)
    [finding] = validate_claude_citations(cited_answer(citation), [REPORT, HANDBOOK])
    assert (finding.code, finding.severity) == (Code.UNKNOWN_DOCUMENT, Severity.BLOCK)
    assert finding.pointer == "/content/1/citations/0"
    assert "cites document 2, but 2 documents were sent" in finding.message
    assert "its cited text is in document 0, characters [" in finding.message


def test_no_documents_at_all() -> None:
    citation = char_citation(REPORT, "Revenue grew 12%")
    [finding] = validate_claude_citations(cited_answer(citation), [])
    assert finding.code == Code.UNKNOWN_DOCUMENT and "no documents were sent" in finding.message


@pytest.mark.parametrize(
    ("start", "end"),
    [(len(REPORT) - 5, len(REPORT) + 1), (-1, 10), (30, 20)],
    ids=["past-the-end", "negative", "end-before-start"],
)
def test_span_outside_the_document_is_unknown_document(start: int, end: int) -> None:
    citation = {**char_citation(REPORT, "Revenue"), "start_char_index": start, "end_char_index": end}
    citation["cited_text"] = "Profits"  # in no document: a span past the end cannot be explained
    [finding] = validate_claude_citations(cited_answer(citation), [REPORT])
    assert finding.code == Code.UNKNOWN_DOCUMENT
    assert f"[{start}, {end})" in finding.message and f"which has {len(REPORT)}" in finding.message


def test_char_location_into_a_content_document_is_unknown_document() -> None:
    citation = char_citation(REPORT, "Revenue grew 12%", index=1)
    [finding] = validate_claude_citations(cited_answer(citation), [REPORT, CONTENT_DOC])
    assert finding.code == Code.UNKNOWN_DOCUMENT
    assert 'document 1 ("Pilot notes"), which was sent as content blocks' in finding.message


# --- uncited numbers ------------------------------------------------------------------------------


def test_number_sentence_without_citation_is_a_warning() -> None:
    citation = char_citation(REPORT, "Revenue grew 12% in Q3 to $4.1 million. ")
    response = message(
        text("Revenue grew 12% in Q3", citation),
        text(". Headcount reached 250 people, up 4x. The outlook is good."),
    )
    [finding] = validate_claude_citations(response, [REPORT])
    assert (finding.code, finding.severity) == (Code.UNCITED_NUMBER, Severity.WARN)
    assert finding.start is not None and finding.end is not None
    assert response_text(response)[finding.start : finding.end] == "Headcount reached 250 people, up 4x."
    assert "250, 4x" in finding.message
    assert finding.pointer is None


def test_number_in_a_cited_block_gives_nothing() -> None:
    citation = char_citation(REPORT, "The company now employs 240 people across 3 offices.")
    response = message(text("The company employs 240 people in 3 offices.", citation))
    assert validate_claude_citations(response, [REPORT]) == []


def test_a_cited_block_covers_the_whole_sentence_it_is_part_of() -> None:
    # The number sits in an uncited block, but the sentence also holds a cited one.
    citation = char_citation(REPORT, "Revenue grew 12% in Q3 to $4.1 million. ")
    response = message(text("In Q3 2024, a 12% rise: "), text("revenue grew", citation), text("."))
    assert validate_claude_citations(response, [REPORT]) == []


def test_quoted_number_without_citation_is_flagged() -> None:
    response = message(text('The CFO said "we grew 12%" on the call.'))
    assert codes(validate_claude_citations(response, [REPORT])) == [(Code.UNCITED_NUMBER, Severity.WARN)]


def test_sentences_without_numbers_need_no_citation() -> None:
    response = message(text("The report is upbeat. Costs are under control."))
    assert validate_claude_citations(response, [REPORT]) == []


# --- citations that cannot be checked offline -----------------------------------------------------


def test_page_location_is_reported_as_not_checked() -> None:
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"},
    }
    citation = {
        "type": "page_location",
        "cited_text": "Revenue grew 12% in Q3.",
        "document_index": 0,
        "document_title": "Q3 report",
        "start_page_number": 2,
        "end_page_number": 3,
    }
    [finding] = validate_claude_citations(cited_answer(citation), [pdf])
    assert (finding.code, finding.severity) == (UNCHECKED_CITATION, Severity.INFO)
    assert "not checked" in finding.message and finding.pointer == "/content/1/citations/0"


def test_page_location_still_needs_an_existing_document() -> None:
    citation = {
        "type": "page_location",
        "cited_text": "Revenue grew 12% in Q3.",
        "document_index": 1,
        "start_page_number": 2,
        "end_page_number": 3,
    }
    assert codes(validate_claude_citations(cited_answer(citation), [REPORT])) == [
        (Code.UNKNOWN_DOCUMENT, Severity.BLOCK)
    ]


def test_char_location_into_a_file_document_is_not_checked() -> None:
    file_doc = {"type": "document", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}
    citation = char_citation(REPORT, "Revenue grew 12%")
    [finding] = validate_claude_citations(cited_answer(citation), [file_doc])
    assert finding.code == UNCHECKED_CITATION and "'file' source" in finding.message


def test_web_search_and_unknown_citation_types_are_not_checked() -> None:
    web = {
        "type": "web_search_result_location",
        "cited_text": "Revenue grew 12% in Q3",
        "url": "https://example.com/acme-q3",
        "title": "Acme Q3",
        "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lNm..",
    }
    future = {"type": "audio_location", "cited_text": "Revenue grew 12% in Q3"}
    findings = validate_claude_citations(message(text("Revenue grew 12% in Q3.", web, future)), [])
    assert codes(findings) == [(UNCHECKED_CITATION, Severity.INFO)] * 2
    assert "web search result" in findings[0].message and "'audio_location'" in findings[1].message


# --- content_block_location -----------------------------------------------------------------------


def block_citation(start: int, end: int, cited: str, index: int = 0) -> dict[str, Any]:
    return {
        "type": "content_block_location",
        "cited_text": cited,
        "document_index": index,
        "document_title": "Pilot notes",
        "start_block_index": start,
        "end_block_index": end,
    }


def test_content_block_citation_that_holds() -> None:
    cited = "First chunk: the pilot ran for 6 weeks.Second chunk: 41 of 50 users kept using it."
    response = message(text("The pilot ran 6 weeks and 41 of 50 users stayed.", block_citation(0, 2, cited)))
    assert validate_claude_citations(response, [CONTENT_DOC]) == []


def test_content_block_citation_off_by_one() -> None:
    cited = "Second chunk: 41 of 50 users kept using it."
    response = message(text("41 of 50 users stayed", block_citation(2, 3, cited)))
    [finding] = validate_claude_citations(response, [CONTENT_DOC])
    assert (finding.code, finding.severity) == (Code.CITATION_MISMATCH, Severity.BLOCK)
    assert finding.evidence == "Third chunk: support tickets halved."
    assert finding.message.endswith("it is at blocks [1, 2)")


def test_content_block_citation_past_the_last_block() -> None:
    response = message(text("Tickets halved", block_citation(2, 4, "Third chunk: support tickets halved.")))
    [finding] = validate_claude_citations(response, [CONTENT_DOC])
    assert finding.code == Code.UNKNOWN_DOCUMENT and "which has 3" in finding.message


def test_content_block_citation_into_a_text_document() -> None:
    response = message(text("Tickets halved", block_citation(0, 1, "Revenue grew", index=0)))
    [finding] = validate_claude_citations(response, [REPORT])
    assert finding.code == Code.UNKNOWN_DOCUMENT and "sent as plain text" in finding.message


def test_image_blocks_keep_their_index() -> None:
    document = {
        "source": {
            "type": "content",
            "content": [
                {"type": "image", "source": {"type": "url", "url": "https://example.com/chart.png"}},
                {"type": "text", "text": "Chart: churn fell to 2%."},
            ],
        }
    }
    response = message(text("Churn fell to 2%.", block_citation(1, 2, "Chart: churn fell to 2%.")))
    assert validate_claude_citations(response, [document]) == []


# --- the response ---------------------------------------------------------------------------------


def test_sdk_message_gives_the_same_findings_as_its_json() -> None:
    good = char_citation(REPORT, "Revenue grew 12% in Q3 to $4.1 million. ")
    bad = char_citation(REPORT, "Operating costs fell 3%.", shift=4)
    raw = message(
        {"type": "thinking", "thinking": "The report has the figures.", "signature": "EqQBCgIYAh"},
        text("Revenue grew 12% in Q3", good),
        text(" and "),
        text("costs fell 3%", bad),
        text(". Margins improved 2 points."),
    )
    sdk = Message.model_validate(raw)
    findings = validate_claude_citations(sdk, [text_document(REPORT)])
    assert findings == validate_claude_citations(raw, [text_document(REPORT)])
    assert [(f.code, f.pointer) for f in findings] == [
        (CITATION_OFFSET, "/content/3/citations/0"),
        (Code.UNCITED_NUMBER, None),
    ]


def test_response_text_joins_text_blocks_only() -> None:
    raw = message(
        text("Let me check. "),
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "lookup", "input": {"q": "Q3"}},
        text("Revenue grew 12%."),
    )
    assert response_text(raw) == "Let me check. Revenue grew 12%."
    assert response_text(Message.model_validate(raw)) == "Let me check. Revenue grew 12%."


BAD_INPUTS: list[tuple[object, object, str]] = [
    ({"id": "msg_1", "type": "message"}, [REPORT], "no 'content' list"),
    ({"type": "message", "content": "hello"}, [REPORT], "no 'content' list"),
    ({"type": "error", "error": {"type": "overloaded_error"}}, [REPORT], "type 'error'"),
    ("Revenue grew 12%.", [REPORT], "must be a dict or a pydantic model, not str"),
    (message({"text": "no type"}), [REPORT], "/content/0"),
    (message({"type": "text"}), [REPORT], "has no 'text' string"),
    (message(text("x", {"cited_text": "x"})), [REPORT], "/content/0/citations/0"),
    (message({"type": "text", "text": "x", "citations": "[]"}), [REPORT], "is not a list"),
    (
        message(text("x", {k: v for k, v in char_citation(REPORT, "Acme").items() if k != "end_char_index"})),
        [REPORT],
        "lacks an integer 'end_char_index'",
    ),
    (
        message(text("x", {**char_citation(REPORT, "Acme"), "document_index": True})),
        [REPORT],
        "document_index",
    ),
    (message(text("x", {**char_citation(REPORT, "Acme"), "cited_text": None})), [REPORT], "cited_text"),
    (message(text("x")), REPORT, "documents must be a list"),
    (message(text("x")), [{"title": "no source"}], "document 0 has no 'source'"),
    (message(text("x")), [REPORT, 42], "document 1 must be a dict"),
    (message(text("x")), [{"source": {"type": "text", "media_type": "text/plain"}}], "'data'"),
    (message(text("x")), [{"source": {"type": "content", "content": None}}], "'content' list"),
]


@pytest.mark.parametrize(("response", "documents", "expected"), BAD_INPUTS)
def test_malformed_input_raises_input_error(response: object, documents: Any, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        validate_claude_citations(response, documents)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_validators_stay_offline() -> None:
    """Importing the module must not pull in the SDK, Prefect or Slack."""
    code = (
        "import sys, prefect_review_gate.validators.claude_citations\n"
        "loaded = {'anthropic', 'prefect', 'slack_sdk', 'slack_bolt'} & set(sys.modules)\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- properties -----------------------------------------------------------------------------------


@st.composite
def documents_and_spans(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Arbitrary text documents and valid (document, start, end) spans into them."""
    documents = draw(st.lists(st.text(max_size=200), min_size=1, max_size=4))
    spans = []
    for _ in range(draw(st.integers(0, 6))):
        index = draw(st.integers(0, len(documents) - 1))
        start = draw(st.integers(0, len(documents[index])))
        end = draw(st.integers(start, len(documents[index])))
        spans.append((index, start, end))
    return documents, spans


@settings(max_examples=300, deadline=None)
@given(case=documents_and_spans(), answer=st.text(max_size=60))
def test_true_slices_never_mismatch(case: tuple[list[str], list[tuple[int, int, int]]], answer: str) -> None:
    documents, spans = case
    citations = [
        {
            "type": "char_location",
            "cited_text": documents[i][start:end],
            "document_index": i,
            "start_char_index": start,
            "end_char_index": end,
        }
        for i, start, end in spans
    ]
    findings = validate_claude_citations(message(text(answer, *citations)), documents)
    assert {f.code for f in findings} <= {Code.UNCITED_NUMBER}


@settings(max_examples=300, deadline=None)
@given(
    blocks=st.lists(st.text(), max_size=8),
    cited=st.lists(st.booleans(), max_size=8),
    documents=st.lists(st.text(max_size=80), max_size=3),
)
def test_arbitrary_unicode_text_blocks_never_raise(
    blocks: list[str], cited: list[bool], documents: list[str]
) -> None:
    citation = {"type": "char_location", "cited_text": "x", "document_index": 0, "start_char_index": 0}
    content = [
        text(value, {**citation, "end_char_index": 1}) if i < len(cited) and cited[i] else text(value)
        for i, value in enumerate(blocks)
    ]
    response = message(*content)
    findings = validate_claude_citations(response, documents)
    joined = response_text(response)
    assert joined == "".join(blocks)
    for finding in findings:
        assert finding.start is not None and finding.end is not None
        assert 0 <= finding.start <= finding.end <= len(joined)
