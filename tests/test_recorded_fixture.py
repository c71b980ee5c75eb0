"""The offline fixture is a reply the Messages API could send: whole-sentence citations, real fields."""

from __future__ import annotations

import json

from anthropic.types import Message
from anthropic_fake import EXAMPLE, recorded

from prefect_review_gate.flows.common.offline_model import sentence_chunks
from prefect_review_gate.flows.forge.agent import Proposal, document_blocks, read_reply
from prefect_review_gate.flows.forge.flow import check_proposal, load_sources

SOURCES = load_sources(str(EXAMPLE / "sources"))


def test_every_citation_is_whole_sentences_of_its_document() -> None:
    titles = sorted(SOURCES)
    citations = [c for block in recorded()["content"] for c in block.get("citations") or []]
    assert citations
    for citation in citations:
        text = SOURCES[titles[citation["document_index"]]]
        start, end = citation["start_char_index"], citation["end_char_index"]
        assert text[start:end] == citation["cited_text"]
        chunks = sentence_chunks(text)
        # The API chunks plain text into sentences and cites whole chunks, never a clause.
        assert start in {a for a, _ in chunks}, citation["cited_text"]
        assert end in {b for _, b in chunks}, citation["cited_text"]


def test_the_fixture_carries_the_fields_a_real_reply_carries() -> None:
    reply = recorded()
    assert "stop_details" in reply and reply["stop_reason"] == "tool_use"
    assert set(reply["usage"]["cache_creation"]) == {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}
    assert reply["usage"]["service_tier"] == "standard"
    Message.model_validate(reply)  # the SDK reads it as it would read the API's


def test_the_notice_says_how_the_fixture_was_made_not_that_the_api_sent_it() -> None:
    notice = (EXAMPLE / "NOTICE.md").read_text(encoding="utf-8")
    maker = (EXAMPLE / "make_recorded_response.py").read_text(encoding="utf-8")
    for text in (notice, maker):
        assert "exactly what the API would send" not in " ".join(text.split())
    assert "could send" in " ".join(notice.split())


def test_the_demo_findings_stay_the_five_planted_fabrications_and_the_uncited_figure() -> None:
    reply = recorded()
    proposal = read_reply(reply, document_blocks(SOURCES))
    assert isinstance(proposal, Proposal)
    findings = check_proposal(proposal, reply, SOURCES)
    found = sorted((f.code, proposal.draft[f.start or 0 : f.end or 0][:40]) for f in findings)
    assert found == sorted(
        [
            ("unsupported_number", "500"),
            ("uncited_number", "Approval state survives worker restarts "),
            ("unknown_source", "prefect-docs"),
            ("unsupported_number", "99%"),
            ("unsupported_quote", "the fastest HTTP client available for Py"),
            ("unknown_url", "https://docs.slack.dev/tools/bolt-python"),
        ]
    )
    assert json.loads((EXAMPLE / "recorded_response.json").read_text(encoding="utf-8")) == reply
