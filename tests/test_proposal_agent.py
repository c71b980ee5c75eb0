"""The agent's request and reply, the Claude settings and the folder sink: no Prefect run needed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from anthropic_fake import EXAMPLE, blocker_reply, recorded, untooled_reply

from prefect_review_gate.flows.common.boundaries import Blocker
from prefect_review_gate.flows.common.claude import ClaudeSettings, Usage
from prefect_review_gate.flows.common.errors import ModelError, ModelRefused
from prefect_review_gate.flows.common.pricing import price_of
from prefect_review_gate.flows.forge.actions import PublishProposalFile
from prefect_review_gate.flows.forge.agent import (
    BOUNDARIES,
    Proposal,
    build_request,
    document_blocks,
    follow_up_request,
    needs_follow_up,
    read_reply,
    with_follow_up,
)
from prefect_review_gate.flows.forge.executors import publish_file
from prefect_review_gate.flows.forge.flow import check_proposal, load_sources
from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.validators.errors import InputError, SourceError

SOURCES = load_sources(str(EXAMPLE / "sources"))
DOCUMENTS = document_blocks(SOURCES)


def _proposal(reply: dict[str, Any] | None = None) -> Proposal:
    answer = read_reply(reply or recorded(), DOCUMENTS)
    assert isinstance(answer, Proposal)
    return answer


def test_the_request_carries_the_boundaries_the_documents_and_both_tools() -> None:
    request = build_request("Propose X.", "Acme", DOCUMENTS)

    assert BOUNDARIES in request["system"]
    # "auto": forcing a tool would suppress the cited text; one call at most, by request.
    assert request["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    [message] = request["messages"]
    *documents, task = message["content"]
    assert [d["title"] for d in documents] == ["httpx", "prefect", "slack-bolt"]
    assert documents[1]["source"]["data"] == SOURCES["prefect"]
    assert "Acme" in task["text"] and "Propose X." in task["text"]


def test_the_draft_puts_a_marker_where_each_cited_block_ends_before_its_full_stop() -> None:
    draft = _proposal().draft

    assert "for building data pipelines in Python [prefect]. Teams automate" in draft
    assert "It ships with 99% test coverage [httpx]." in draft
    assert "checkpointed every 30 seconds [prefect-docs]." in draft  # written by the model, kept as is


def test_claude_citation_findings_land_on_the_same_words_of_the_draft() -> None:
    proposal = _proposal()
    findings = check_proposal(proposal, recorded(), SOURCES)

    [uncited] = [f for f in findings if f.code == "uncited_number"]
    assert uncited.start is not None and uncited.end is not None
    assert proposal.draft[uncited.start : uncited.end].startswith("Approval state survives")
    by_code = {f.code: proposal.draft[f.start or 0 : f.end or 0] for f in findings if f.blocking}
    assert by_code["unknown_source"] == "prefect-docs"
    assert by_code["unknown_url"] == "https://docs.slack.dev/tools/bolt-python/approvals-guide/"


def test_an_altered_citation_is_caught_on_the_draft() -> None:
    reply = recorded()
    cited = next(b for b in reply["content"] if b.get("citations"))
    cited["citations"][0]["cited_text"] = "Prefect is the fastest orchestrator."

    findings = check_proposal(_proposal(reply), reply, SOURCES)

    assert "citation_mismatch" in {f.code for f in findings if f.blocking}


def test_a_blocker_is_a_first_class_answer() -> None:
    answer = read_reply(blocker_reply("No rates in the documents."), DOCUMENTS)

    assert isinstance(answer, Blocker)
    assert answer.describe() == "No rates in the documents. Needed: the client's carrier volumes."


def _with_calls(*calls: dict[str, Any]) -> dict[str, Any]:
    reply = recorded()
    reply["content"] = [b for b in reply["content"] if b["type"] == "text"] + list(calls)
    return reply


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (_with_calls(), "0 tool calls"),
        (
            _with_calls(
                {
                    "type": "tool_use",
                    "id": "a",
                    "name": "submit_proposal",
                    "input": {"title": "t", "file_name": "f"},
                },
                {"type": "tool_use", "id": "b", "name": "report_blocker", "input": {"reason": "r"}},
            ),
            "2 tool calls",
        ),
        (_with_calls({"type": "tool_use", "id": "a", "name": "send_email", "input": {}}), "unknown tool"),
        (
            _with_calls({"type": "tool_use", "id": "a", "name": "submit_proposal", "input": {"title": "t"}}),
            "file_name",
        ),
        (
            _with_calls(
                {
                    "type": "tool_use",
                    "id": "a",
                    "name": "submit_proposal",
                    "input": {"title": "t", "file_name": "../x"},
                }
            ),
            "file_name",
        ),
        ({**recorded(), "stop_reason": "max_tokens"}, "max_tokens"),
        ({"type": "error", "error": {}}, "not a Messages API message"),
    ],
    ids=[
        "no-tool",
        "two-tools",
        "unknown-tool",
        "missing-field",
        "path-in-name",
        "truncated",
        "not-a-message",
    ],
)
def test_replies_that_cannot_be_used_are_model_errors(reply: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        read_reply(reply, DOCUMENTS)


def test_a_submission_without_text_is_refused() -> None:
    reply = copy.deepcopy(recorded())
    reply["content"] = [b for b in reply["content"] if b["type"] == "tool_use"]

    with pytest.raises(ModelError, match="without writing any text"):
        read_reply(reply, DOCUMENTS)


def test_settings_from_the_environment_and_their_errors() -> None:
    settings = ClaudeSettings.from_env(
        {
            "ANTHROPIC_API_KEY": "sk-x",
            "REVIEW_GATE_ANTHROPIC_MODEL": "claude-haiku-4-5",
            "ANTHROPIC_BASE_URL": "",
        }
    )
    assert settings.model == "claude-haiku-4-5" and settings.base_url is None
    assert "sk-x" not in repr(settings)  # the key is a SecretStr
    with pytest.raises(InputError, match="REVIEW_GATE_ANTHROPIC_MAX_RETRIES"):
        ClaudeSettings.from_env({"REVIEW_GATE_ANTHROPIC_MAX_RETRIES": "many"})
    with pytest.raises(InputError, match="max_tokens"):
        ClaudeSettings.from_env({"REVIEW_GATE_ANTHROPIC_MAX_TOKENS": "0"})


def _usage(model: str, **usage: Any) -> Usage:
    from anthropic.types import Message

    reply = {**recorded(), "model": model}
    reply["usage"] = {**reply["usage"], **usage}
    return Usage.of(Message.model_validate(reply))


def test_prices_are_per_exact_model_id_from_the_pricing_page() -> None:
    plain = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "cache_creation": None}
    sonnet = _usage("claude-sonnet-4-6", input_tokens=1_000_000, output_tokens=1_000_000, **plain)
    assert sonnet.cost_usd == pytest.approx(3.0 + 15.0)
    for opus in ("claude-opus-4-6", "claude-opus-4-7", "claude-opus-4-8", "claude-opus-4-5-20251101"):
        # The old prefix table priced every claude-opus-4* at $15/$75.
        assert _usage(
            opus, input_tokens=1_000_000, output_tokens=1_000_000, **plain
        ).cost_usd == pytest.approx(30.0)
    assert price_of("claude-opus-4-1") is not None and price_of("claude-opus-4-1").output == 75.0  # type: ignore[union-attr]
    assert price_of("claude-haiku-4-5") is not None and price_of("claude-haiku-4-5").input == 1.0  # type: ignore[union-attr]
    assert price_of("claude-opus-4") is None  # no prefix guessing: an id that is not listed has no price


def test_cache_writes_cost_by_their_lifetime_and_reads_a_tenth() -> None:
    usage = _usage(
        "claude-sonnet-4-6",
        input_tokens=0,
        output_tokens=0,
        cache_creation_input_tokens=3_000_000,
        cache_read_input_tokens=1_000_000,
        cache_creation={"ephemeral_5m_input_tokens": 1_000_000, "ephemeral_1h_input_tokens": 2_000_000},
    )
    # 1M written for 5 minutes at 1.25x $3, 2M for an hour at 2x $3, 1M read at 0.1x $3.
    assert usage.cost_usd == pytest.approx(3.75 + 12.0 + 0.3)
    assert usage.cache_write_1h_tokens == 2_000_000


def test_an_unknown_model_says_price_unknown_and_every_cost_says_estimate() -> None:
    unknown = _usage("claude-x-1")
    assert unknown.cost_usd is None
    assert "price unknown" in unknown.markdown()
    assert "estimate" in _usage("claude-sonnet-4-6").markdown()


def _reply(**changes: Any) -> dict[str, Any]:
    return {**recorded(), **changes}


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (_reply(stop_reason="max_tokens"), "cut off at max_tokens"),
        (_reply(stop_reason="model_context_window_exceeded"), "context window"),
        (_reply(stop_reason="pause_turn"), "pause_turn"),
        (_reply(stop_reason="end_turn"), "not tool_use"),  # a tool call without tool_use is no answer
    ],
    ids=["max-tokens", "context-window", "pause-turn", "end-turn-with-a-call"],
)
def test_a_proposal_is_accepted_only_from_tool_use(reply: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        read_reply(reply, DOCUMENTS)


def test_a_refusal_names_the_category_and_explanation() -> None:
    reply = _reply(
        content=[],
        stop_reason="refusal",
        stop_details={"type": "refusal", "category": "cyber", "explanation": "This looks like exploit code."},
    )

    with pytest.raises(ModelRefused) as refused:
        read_reply(reply, DOCUMENTS)

    assert refused.value.category == "cyber"
    assert "cyber" in str(refused.value) and "exploit code" in str(refused.value)
    assert "tool calls" not in str(refused.value)
    with pytest.raises(ModelRefused, match="no category given"):  # stop_details may be absent
        read_reply(_reply(content=[], stop_reason="refusal"), DOCUMENTS)


def test_prose_without_a_tool_gets_one_follow_up_that_forces_submit_and_keeps_the_cited_draft() -> None:
    first = untooled_reply()
    request = build_request("Propose X.", "Acme", DOCUMENTS)
    assert needs_follow_up(first)

    follow_up = follow_up_request(request, first)
    assert follow_up["tool_choice"] == {
        "type": "tool",
        "name": "submit_proposal",
        "disable_parallel_tool_use": True,
    }
    _user, assistant, ask = follow_up["messages"]
    assert assistant["role"] == "assistant" and ask["role"] == "user"
    assert all(None not in b.values() for b in assistant["content"])  # nulls are not sent back
    second = _reply(content=[b for b in recorded()["content"] if b["type"] == "tool_use"])

    proposal = read_reply(with_follow_up(first, second), DOCUMENTS)
    assert isinstance(proposal, Proposal)
    assert proposal.draft == _proposal().draft  # the first turn's text, its citations' markers included
    assert not needs_follow_up(recorded())


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"title": "T" * 250, "file_name": "acme"}, ("T" * 200, "acme")),
        ({"title": "Plan", "file_name": "Acme Plan 2026.md"}, ("Plan", "acme-plan-2026")),
        ({"title": "Plan", "file_name": "ACME_plan"}, ("Plan", "acme-plan")),
    ],
    ids=["long-title", "spaces-and-extension", "capitals-underscore"],
)
def test_harmless_tool_input_slips_are_mended(given: dict[str, Any], expected: tuple[str, str]) -> None:
    proposal = _proposal(
        _with_calls({"type": "tool_use", "id": "a", "name": "submit_proposal", "input": given})
    )
    assert (proposal.meta.title, proposal.meta.file_name) == expected


def test_a_null_missing_list_reads_as_empty() -> None:
    reply = blocker_reply("No rates.")
    reply["content"][0]["input"]["missing"] = None

    answer = read_reply(reply, DOCUMENTS)

    assert isinstance(answer, Blocker) and answer.missing == ()


def test_other_invalid_input_names_the_field_and_the_value() -> None:
    bad = {"title": "Plan", "file_name": "../../etc/passwd"}
    with pytest.raises(ModelError, match=r"file_name: .*'\.\./\.\./etc/passwd'"):
        read_reply(
            _with_calls({"type": "tool_use", "id": "a", "name": "submit_proposal", "input": bad}), DOCUMENTS
        )


def test_sources_from_a_list_of_files_and_their_errors(tmp_path: Path) -> None:
    files = [str(EXAMPLE / "sources" / "httpx.md"), str(EXAMPLE / "sources" / "prefect.md")]
    assert sorted(load_sources(files)) == ["httpx", "prefect"]
    with pytest.raises(SourceError, match="does not exist"):
        load_sources([str(tmp_path / "missing.md")])
    with pytest.raises(SourceError, match="no source documents"):
        load_sources([])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no source files"):
        load_sources(str(tmp_path / "empty"))


def test_the_folder_sink_writes_once_and_never_overwrites_other_content(tmp_path: Path) -> None:
    action = PublishProposalFile(
        client="Acme", name="acme-plan", folder=str(tmp_path / "out"), body="# Plan\n"
    )

    assert publish_file(action, "r:0:h") == {"path": str(tmp_path / "out" / "acme-plan.md")}
    assert publish_file(action, "r:0:h")["note"] == "already published with this content"
    other = action.model_copy(update={"body": "# Another plan\n"})
    with pytest.raises(DeliveryFailed, match="already exists with other content"):
        publish_file(other, "r2:0:h")
    assert (tmp_path / "out" / "acme-plan.md").read_text() == "# Plan\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["acme-plan.md"]  # no partial files left
