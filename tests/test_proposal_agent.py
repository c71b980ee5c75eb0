"""The agent's request and reply, the Claude settings and the folder sink: no Prefect run needed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from anthropic_fake import EXAMPLE, blocker_reply, recorded

from prefect_review_gate.flows.common.boundaries import Blocker
from prefect_review_gate.flows.common.claude import ClaudeSettings, Usage, price_per_mtok
from prefect_review_gate.flows.forge.actions import PublishProposalFile
from prefect_review_gate.flows.forge.agent import (
    BOUNDARIES,
    Proposal,
    build_request,
    document_blocks,
    read_reply,
)
from prefect_review_gate.flows.forge.executors import publish_file
from prefect_review_gate.flows.forge.flow import check_proposal, load_sources
from prefect_review_gate.validators.errors import DeliveryFailed, InputError, ModelError, SourceError

SOURCES = load_sources(str(EXAMPLE / "sources"))
DOCUMENTS = document_blocks(SOURCES)


def _proposal(reply: dict[str, Any] | None = None) -> Proposal:
    answer = read_reply(reply or recorded(), DOCUMENTS)
    assert isinstance(answer, Proposal)
    return answer


def test_the_request_carries_the_boundaries_the_documents_and_both_tools() -> None:
    request = build_request("Propose X.", "Acme", DOCUMENTS)

    assert BOUNDARIES in request["system"]
    assert request["tool_choice"] == {"type": "auto"}  # forcing a tool would suppress the cited text
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


def test_usage_costs_known_models_and_admits_unknown_ones() -> None:
    from anthropic.types import Message

    message = Message.model_validate({**recorded(), "model": "claude-sonnet-4-6"})
    usage = Usage.of(message)
    assert usage.cost_usd == pytest.approx((7412 * 3 + 871 * 15) / 1_000_000)
    assert price_per_mtok("claude-opus-4-5-20251101") == (5.0, 25.0)
    assert price_per_mtok("claude-opus-4-1") == (15.0, 75.0)
    assert Usage.of(Message.model_validate({**recorded(), "model": "claude-x-1"})).cost_usd is None
    assert "unknown" in Usage.of(Message.model_validate({**recorded(), "model": "claude-x-1"})).markdown()


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
