"""FORGE end to end in-process: the official SDK against the Messages fake, a real Prefect API,
real files and a real SMTP server. The gate pauses the run in-process; tests decide from outside.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from anthropic_fake import (
    EXAMPLE,
    OFFLINE_KEY,
    MessagesFake,
    Reply,
    blocker_reply,
    recorded,
    refusal_reply,
    untooled_reply,
)
from gate_helpers import review_of_run
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import FlowRun, StateType

from prefect_review_gate.flows.forge.flow import REQUESTER, proposal_flow
from prefect_review_gate.gates import Outcome
from prefect_review_gate.gates.reviews import PendingReview, decide

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

SOURCES = str(EXAMPLE / "sources")
BRIEF = (EXAMPLE / "brief.md").read_text(encoding="utf-8")
REVIEWERS = ["alice", "bob"]
WAIT = 60.0


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesFake]:
    """The Messages fake with the recorded reply, and the SDK pointed at it by the environment."""
    with MessagesFake(Reply.message(recorded())) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", OFFLINE_KEY)
        yield server


def _start(client: str, out: Path, **parameters: Any) -> asyncio.Task[Any]:
    arguments: dict[str, Any] = {
        "brief": BRIEF,
        "sources": SOURCES,
        "client": client,
        "reviewers": REVIEWERS,
        "publish_dir": str(out),
        **parameters,
    }
    return asyncio.create_task(proposal_flow(**arguments, return_state=True))


async def _waiting_review(client: str, run: asyncio.Task[Any]) -> PendingReview:
    def for_client(pending: PendingReview) -> bool:
        return any(client in (a.get("client"), *a.get("to", [])) for a in pending.record.request.actions)

    return await review_of_run(run, for_client, f"review for {client!r}", WAIT)


async def _flow_run(state: Any) -> FlowRun:
    async with get_client() as client:
        return await client.read_flow_run(state.state_details.flow_run_id)


async def _artifact_keys(run_id: Any) -> set[str]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {a.key for a in artifacts if a.key}


async def test_approved_proposal_is_published_once_with_what_reviewers_saw(
    fake: MessagesFake, tmp_path: Path
) -> None:
    out = tmp_path / "published"
    run = _start("Brightwater approve", out)
    pending = await _waiting_review("Brightwater approve", run)
    request = pending.record.request

    # Reviewers see the fabrications before anyone is asked to approve.
    codes = {f.code for f in request.blocking}
    assert {"unsupported_number", "unknown_source", "unsupported_quote", "unknown_url"} <= codes
    assert "uncited_number" in {f.code for f in request.findings}  # from Claude's own citations
    assert request.requester == REQUESTER
    [action] = request.actions
    assert action["kind"] == "proposal.publish_file" and action["folder"] == str(out.resolve())
    assert not out.exists()  # nothing before the decision

    await decide(request.id, Outcome.APPROVED, "alice", override_reason="figures fixed by hand")
    state = await asyncio.wait_for(run, WAIT)

    assert state.is_completed(), state
    published = out / "brightwater-reviewed-agent-workflows.md"
    assert [p.name for p in out.iterdir()] == [published.name]
    body = published.read_text(encoding="utf-8")
    assert body == action["body"]
    assert "Prefect is a workflow orchestration framework" in body and "[prefect]" in body
    # One model call, made the way the system card advises.
    [call] = fake.message_requests()
    assert call.headers["authorization"] == f"Bearer {OFFLINE_KEY}"
    sent = call.body
    assert "Do not fabricate data" in sent["system"] and "report_blocker" in sent["system"]
    assert "Do not create resources that were not requested" in sent["system"]
    assert {t["name"] for t in sent["tools"]} == {"submit_proposal", "report_blocker"}
    documents = [b for b in sent["messages"][0]["content"] if b["type"] == "document"]
    assert [d["title"] for d in documents] == ["httpx", "prefect", "slack-bolt"]
    assert all(d["citations"] == {"enabled": True} for d in documents)
    run_record = await _flow_run(state)
    keys = await _artifact_keys(run_record.id)
    assert {"forge-claude-usage", "forge-proposal-draft"} <= keys


async def test_rejected_proposal_publishes_nothing(fake: MessagesFake, tmp_path: Path) -> None:
    out = tmp_path / "published"
    run = _start("Brightwater reject", out)
    pending = await _waiting_review("Brightwater reject", run)

    await decide(pending.record.request.id, Outcome.REJECTED, "bob", comment="invented")
    state = await asyncio.wait_for(run, WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Rejected", state
    assert not out.exists()


async def test_a_blocked_agent_ends_blocked_and_asks_nobody(fake: MessagesFake, tmp_path: Path) -> None:
    fake.script.append(Reply.message(blocker_reply("The documents hold no carrier rates to quote.")))
    out = tmp_path / "published"

    state = await asyncio.wait_for(_start("Brightwater blocked", out), WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Blocked", state
    assert "no carrier rates" in (state.message or "")
    assert not out.exists()
    run = await _flow_run(state)
    assert "review-gate" not in run.tags  # the gate never opened a review
    assert "forge-blocker" in await _artifact_keys(run.id)


@pytest.mark.parametrize(
    "reply", [Reply.garbage(), Reply.message(untooled_reply())], ids=["garbage", "no-tool-twice"]
)
async def test_an_unusable_reply_fails_the_run_before_any_review(
    fake: MessagesFake, tmp_path: Path, reply: Reply
) -> None:
    fake.script.extend([reply, reply])  # prose twice: the follow-up turn did not get the tool either
    out = tmp_path / "published"

    state = await asyncio.wait_for(_start(f"Brightwater {reply.status}", out), WAIT)

    assert state.is_failed(), state
    assert "nothing was sent for review" in (state.message or "")
    assert not out.exists()
    assert "review-gate" not in (await _flow_run(state)).tags


async def test_a_missing_sources_folder_fails_clearly_without_calling_claude(
    fake: MessagesFake, tmp_path: Path
) -> None:
    out = tmp_path / "published"

    state = await asyncio.wait_for(
        _start("Brightwater nosources", out, sources=str(tmp_path / "no-such-folder")), WAIT
    )

    assert state.is_failed(), state
    assert "no-such-folder does not exist" in (state.message or "")
    assert fake.message_requests() == []
    assert not out.exists()


async def test_an_impossible_policy_fails_before_calling_claude(fake: MessagesFake, tmp_path: Path) -> None:
    state = await asyncio.wait_for(_start("Brightwater quorum", tmp_path / "p", approvals_required=3), WAIT)

    assert state.is_failed(), state
    assert "review policy is invalid" in (state.message or "")
    assert fake.message_requests() == []


async def test_a_missing_api_key_fails_clearly_without_calling_claude(
    fake: MessagesFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("REVIEW_GATE_ANTHROPIC_SECRET", "no-such-block")

    state = await asyncio.wait_for(_start("Brightwater nokey", tmp_path / "published"), WAIT)

    assert state.is_failed(), state
    assert "no Anthropic API key" in (state.message or "") and "no-such-block" in (state.message or "")
    assert fake.message_requests() == []


async def test_overloaded_529_and_429_are_retried_then_the_reply_is_used(
    fake: MessagesFake, tmp_path: Path
) -> None:
    fake.script.extend([Reply.overloaded(), Reply.rate_limited(), Reply.overloaded()])
    out = tmp_path / "published"

    # on_blocking="reject": the gate closes the review itself, so the test needs no reviewer.
    state = await asyncio.wait_for(_start("Brightwater overloaded", out, on_blocking="reject"), WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Rejected", state
    assert len(fake.message_requests()) == 4  # three refusals, then the reply
    assert not out.exists()


async def test_overload_beyond_the_retries_fails_the_run(
    fake: MessagesFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVIEW_GATE_ANTHROPIC_MAX_RETRIES", "1")
    fake.script.extend([Reply.overloaded(), Reply.overloaded()])

    state = await asyncio.wait_for(_start("Brightwater down", tmp_path / "published"), WAIT)

    assert state.is_failed(), state
    assert "529 overloaded_error: Overloaded" in (state.message or "")
    assert "after 1 retries" in (state.message or "") and fake.request_ids[-1] in (state.message or "")
    assert len(fake.message_requests()) == 2


async def test_a_refusal_ends_blocked_with_the_category_and_explanation(
    fake: MessagesFake, tmp_path: Path
) -> None:
    fake.script.append(Reply.message(refusal_reply("cyber", "Declined by policy.")))
    out = tmp_path / "published"

    state = await asyncio.wait_for(_start("Brightwater refused", out), WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Blocked", state
    assert "cyber" in (state.message or "") and "Declined by policy." in (state.message or "")
    assert "tool calls" not in (state.message or "")
    run = await _flow_run(state)
    assert "review-gate" not in run.tags and not out.exists()
    assert "forge-blocker" in await _artifact_keys(run.id)


async def test_prose_without_the_tool_gets_one_forced_follow_up_and_the_cited_draft_is_reviewed(
    fake: MessagesFake, tmp_path: Path
) -> None:
    fake.script.append(Reply.message(untooled_reply()))  # then the recorded reply, with its tool call
    out = tmp_path / "published"

    state = await asyncio.wait_for(_start("Brightwater prose", out, on_blocking="reject"), WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Rejected", state  # it reached review
    first, second = fake.message_requests()
    assert first.body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert second.body["tool_choice"] == {
        "type": "tool",
        "name": "submit_proposal",
        "disable_parallel_tool_use": True,
    }
    assert [m["role"] for m in second.body["messages"]] == ["user", "assistant", "user"]


async def test_the_request_id_and_usage_are_on_the_run(fake: MessagesFake, tmp_path: Path) -> None:
    state = await asyncio.wait_for(_start("Brightwater logged", tmp_path / "p", on_blocking="reject"), WAIT)

    assert state.name == "Rejected", state
    run = await _flow_run(state)
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    [usage] = [str(a.data) for a in artifacts if a.key == "forge-claude-usage"]
    assert fake.request_ids[0] in usage and "| 7412 | 871 |" in usage
    assert "(estimate)" in usage and "stop reason `tool_use`" in usage


# --- the e-mail sink, against a real SMTP server -------------------------------------------------------


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Inbox]:
    """An aiosmtpd server on a loopback port 0, in its own thread and event loop."""
    inbox = _Inbox()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(loop.create_server(lambda: SMTP(inbox), "127.0.0.1", 0))
        holder["server"], holder["port"] = server, server.sockets[0].getsockname()[1]
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    monkeypatch.setenv("REVIEW_GATE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("REVIEW_GATE_SMTP_PORT", str(holder["port"]))
    monkeypatch.setenv("REVIEW_GATE_SMTP_FROM", "forge@agency.example")
    yield inbox
    loop.call_soon_threadsafe(holder["server"].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


async def test_email_sink_sends_one_message_on_approval(
    fake: MessagesFake, smtp: _Inbox, tmp_path: Path
) -> None:
    run = _start("Brightwater mail", tmp_path / "unused", sink="email", email_to=["ops@brightwater.example"])
    pending = await _waiting_review("ops@brightwater.example", run)
    [action] = pending.record.request.actions
    assert action["kind"] == "email.send" and action["to"] == ["ops@brightwater.example"]
    assert smtp.messages == []

    await decide(pending.record.request.id, Outcome.APPROVED, "bob", override_reason="ok")
    state = await asyncio.wait_for(run, WAIT)

    assert state.is_completed(), state
    [message] = smtp.messages
    assert message["To"] == "ops@brightwater.example"
    assert message["Subject"] == "Reviewed Agent Workflows for Brightwater Logistics"
    assert message["Message-ID"].endswith("@review-gate>")
    assert "Prefect is a workflow orchestration framework" in message.get_content()


async def test_email_sink_without_recipients_or_server_is_refused_before_review(
    fake: MessagesFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = await asyncio.wait_for(_start("Brightwater nomail", tmp_path / "x", sink="email"), WAIT)

    assert state.is_failed(), state
    assert "needs email_to" in (state.message or "")
    monkeypatch.delenv("REVIEW_GATE_SMTP_HOST", raising=False)
    state = await asyncio.wait_for(
        _start("Brightwater nohost", tmp_path / "x", sink="email", email_to=["ops@brightwater.example"]), WAIT
    )
    assert state.is_failed(), state
    assert "REVIEW_GATE_SMTP_HOST" in (state.message or "")
    assert "review-gate" not in (await _flow_run(state)).tags


async def test_the_key_can_come_from_a_prefect_secret_block(
    fake: MessagesFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    await Secret(value=OFFLINE_KEY).save("forge-test-key", overwrite=True)
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("REVIEW_GATE_ANTHROPIC_SECRET", "forge-test-key")

    state = await asyncio.wait_for(_start("Brightwater secret", tmp_path / "p", on_blocking="reject"), WAIT)

    assert state.name == "Rejected", state  # it got as far as the gate, which rejected the fabrications
    [call] = fake.message_requests()
    assert call.headers["authorization"] == f"Bearer {OFFLINE_KEY}"


# --- Slack, when configured ------------------------------------------------------------------------------


async def test_with_slack_configured_the_review_is_posted_there_and_updated_after_the_decision(
    fake: MessagesFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slack_fake import SlackFake
    from slack_helpers import slack_env

    with SlackFake() as slack:
        for name, value in {**slack_env(slack), "REVIEW_GATE_SLACK_CHANNEL": "C0FORGE"}.items():
            monkeypatch.setenv(name, value)
        run = _start("Brightwater slack", tmp_path / "published")
        pending = await _waiting_review("Brightwater slack", run)
        [posted] = slack.calls_to("chat.postMessage")
        assert posted.params["channel"] == "C0FORGE"
        assert pending.record.request.id in json.dumps(posted.params)

        await decide(pending.record.request.id, Outcome.REJECTED, "bob", comment="no")
        state = await asyncio.wait_for(run, WAIT)

        assert state.name == "Rejected", state
        assert slack.calls_to("chat.update")  # the message shows the outcome, not a live ask
    assert not (tmp_path / "published").exists()
