"""CLOSER end to end in-process: the official SDK against the Messages fake, a real Prefect API, a real
SQLite CRM (or HubSpot's fake over HTTP) and a real SMTP server. The gate pauses the run in-process;
tests decide from outside, as a reviewer would."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from anthropic_fake import OFFLINE_KEY, MessagesFake, Reply, refusal_reply
from gate_helpers import review_of_run
from hubspot_fake import TOKEN, HubSpotFake, seed_demo
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from slack_fake import SlackFake
from slack_helpers import slack_env

from prefect_review_gate.flows.closer import REQUESTER
from prefect_review_gate.flows.closer.crm.seed import seed
from prefect_review_gate.flows.closer.demo import ALLOWED, REQUEST
from prefect_review_gate.flows.closer.executors import agent_executors
from prefect_review_gate.flows.closer.flow import deal_support_flow, default_since
from prefect_review_gate.flows.common.mail_sink import LocalMailSink
from prefect_review_gate.gates import Outcome
from prefect_review_gate.gates.actions import parse_action
from prefect_review_gate.gates.review_text import review_details
from prefect_review_gate.gates.reviews import PendingReview, decide

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

EXAMPLE = Path(__file__).parent.parent / "examples" / "closer"
WAIT = 60.0


def recorded(deal: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLE / f"deal-{deal}.json").read_text(encoding="utf-8"))
    return data


def blocker(reason: str) -> dict[str, Any]:
    reply = recorded("1001")
    reply["content"] = [
        {"type": "tool_use", "id": "toolu_x", "name": "report_blocker", "input": {"reason": reason}}
    ]
    return reply


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesFake]:
    """The Messages fake answering deal 1001, then 1002, as the flow asks about them."""
    with MessagesFake(Reply.message(recorded("1002")), script=[Reply.message(recorded("1001"))]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", OFFLINE_KEY)
        yield server


@pytest.fixture
def crm_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = seed(tmp_path / "crm.sqlite").path
    monkeypatch.setenv("REVIEW_GATE_CRM", "sqlite")
    monkeypatch.setenv("REVIEW_GATE_CRM_PATH", str(path))
    return path


@pytest.fixture
def mail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalMailSink]:
    with LocalMailSink(tmp_path / "mail") as sink:
        for name, value in sink.env("closer@brightwater.example").items():
            monkeypatch.setenv(name, value)
        yield sink


def _count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(sql).fetchone()[0])


def _start(**parameters: Any) -> asyncio.Task[Any]:
    arguments: dict[str, Any] = {
        "request": REQUEST,
        "reviewers": ["alice", "bob"],
        "allowed_actions": ALLOWED,
    }
    return asyncio.create_task(deal_support_flow(**{**arguments, **parameters}, return_state=True))


async def _waiting_review(run: asyncio.Task[Any]) -> PendingReview:
    return await review_of_run(run, lambda p: p.record.request.requester == REQUESTER, "CLOSER review", WAIT)


async def _tags(state: Any) -> list[str]:
    async with get_client() as client:
        return list((await client.read_flow_run(state.state_details.flow_run_id)).tags)


async def test_fabrications_are_shown_and_an_approval_commits_once(
    fake: MessagesFake, crm_file: Path, mail: LocalMailSink
) -> None:
    notes = _count(crm_file, "SELECT COUNT(*) FROM notes")
    contacts = _count(crm_file, "SELECT COUNT(*) FROM contacts")
    run = _start()
    pending = await _waiting_review(run)
    request = pending.record.request

    # The reviewer sees each planted fabrication as a finding at the value it concerns...
    found = {(f.code, f.pointer) for f in request.blocking}
    assert found == {
        ("unrequested_action", "/actions/2/kind"),
        ("unknown_recipient", "/actions/3/to/1"),
        ("unsupported_number", "/actions/3/body"),
        ("unknown_record", "/actions/4/deal_id"),
    }
    # ...and in the review as shown (the CLI's `show`, from the action summaries): the invented
    # recipient, the unrequested contact, and the deal change with its before value from the CRM.
    shown = review_details(pending, datetime.now(UTC), None)
    assert "marco.bianchi@northwind.example" in shown and "Create a CRM contact Marco Bianchi" in shown
    assert "unrequested_action" in shown and "unknown_recipient" in shown
    assert '"decisionmakerboughtin" → "contractsent"' in shown
    assert request.actions[0]["before"] == {"stage": "decisionmakerboughtin"}
    assert _count(crm_file, "SELECT COUNT(*) FROM notes") == notes and mail.messages() == []

    await decide(request.id, Outcome.APPROVED, "alice", override_reason="seen; Marco is real")
    state = await asyncio.wait_for(run, WAIT)

    assert state.is_completed(), state
    assert _count(crm_file, "SELECT COUNT(*) FROM notes") == notes + 2  # 1001 and 1002; no deal 1099
    assert _count(crm_file, "SELECT COUNT(*) FROM contacts") == contacts + 1
    assert _count(crm_file, "SELECT COUNT(*) FROM deals WHERE id = '1001' AND stage = 'contractsent'") == 1
    assert len(mail.messages()) == 2
    report = await state.aresult()
    refused = [o["result"] for o in report["outcomes"] if o["result"].get("done") == "nothing written"]
    assert [r["record"] for r in refused] == ["note on deal 1099"]
    [call_1001, call_1002] = fake.message_requests()
    assert "Deal: 1001" in json.dumps(call_1001.body) and "Deal: 1002" in json.dumps(call_1002.body)

    # A retried commit (the ledger lost its outcome records, the same keys come again) writes nothing.
    executors = agent_executors()
    for action, outcome in zip(report["actions"], report["outcomes"], strict=True):
        if action["kind"].startswith("crm."):
            await executors[action["kind"]](parse_action(action), outcome["idempotency_key"])
    assert _count(crm_file, "SELECT COUNT(*) FROM notes") == notes + 2
    assert _count(crm_file, "SELECT COUNT(*) FROM contacts") == contacts + 1


async def test_a_rejection_commits_nothing(fake: MessagesFake, crm_file: Path, mail: LocalMailSink) -> None:
    before = crm_file.read_bytes()
    run = _start()
    pending = await _waiting_review(run)

    await decide(pending.record.request.id, Outcome.REJECTED, "bob", comment="invented recipient")
    state = await asyncio.wait_for(run, WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Rejected", state
    assert crm_file.read_bytes() == before and mail.messages() == []


async def test_in_slack_the_reviewer_sees_the_change_and_the_invented_recipient(
    fake: MessagesFake, crm_file: Path, mail: LocalMailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = crm_file.read_bytes()
    with SlackFake() as slack:
        for name, value in {**slack_env(slack), "REVIEW_GATE_SLACK_CHANNEL": "CDEALS"}.items():
            monkeypatch.setenv(name, value)
        run = _start()
        review_id = (await _waiting_review(run)).record.request.id
        [posted] = [m for m in slack.messages() if f"Review {review_id}:" in str(m.get("text"))]
        shown = json.dumps(posted["blocks"], ensure_ascii=False)
        assert posted["channel"] == "CDEALS"
        assert "decisionmakerboughtin" in shown and "contractsent" in shown  # before and after, from the CRM
        assert "marco.bianchi@northwind.example" in shown and "unknown_recipient" in shown
        assert "unrequested_action" in shown and "unknown_record" in shown
        actions = {e["action_id"] for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]}
        assert len(actions) == 2  # blocking findings: approve only with an override reason, or reject

        await decide(review_id, Outcome.REJECTED, "bob", comment="invented recipient")
        state = await asyncio.wait_for(run, WAIT)
        [final] = [m for m in slack.messages() if f"Review {review_id}:" in str(m.get("text"))]
    assert state.name == "Rejected" and "Rejected" in json.dumps(final["blocks"])
    assert not any(b["type"] == "actions" for b in final["blocks"])  # the buttons are gone
    assert crm_file.read_bytes() == before and mail.messages() == []


async def test_a_blocked_agent_ends_blocked_and_asks_nobody(fake: MessagesFake, crm_file: Path) -> None:
    fake.script.clear()
    fake.default = Reply.message(blocker("The notes do not say what the client agreed to."))

    state = await asyncio.wait_for(_start(), WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Blocked", state
    assert "do not say what the client agreed" in (state.message or "")
    assert "review-gate" not in await _tags(state)
    assert len(fake.message_requests()) == 2  # each changed deal was asked about


async def test_a_refusal_on_every_deal_ends_blocked_with_the_category(
    fake: MessagesFake, crm_file: Path
) -> None:
    fake.script.clear()
    fake.default = Reply.message(refusal_reply("cyber", "Declined by policy."))
    before = crm_file.read_bytes()

    state = await asyncio.wait_for(_start(), WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Blocked", state
    assert "cyber" in (state.message or "") and "Declined by policy." in (state.message or "")
    assert "review-gate" not in await _tags(state)
    assert crm_file.read_bytes() == before


@pytest.mark.parametrize(
    "reply", [Reply.garbage(), Reply.message({**recorded("1001"), "stop_reason": "max_tokens"})]
)
async def test_an_unusable_reply_fails_the_run_before_any_review(
    fake: MessagesFake, crm_file: Path, reply: Reply
) -> None:
    fake.script.clear()
    fake.script.append(reply)
    before = crm_file.read_bytes()

    state = await asyncio.wait_for(_start(), WAIT)

    assert state.is_failed(), state
    assert "review-gate" not in await _tags(state)
    assert crm_file.read_bytes() == before


async def test_a_missing_crm_fails_before_calling_claude(
    fake: MessagesFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVIEW_GATE_CRM_PATH", str(tmp_path / "nowhere.sqlite"))

    state = await asyncio.wait_for(_start(), WAIT)

    assert state.is_failed() and "no CRM database" in (state.message or ""), state
    assert fake.message_requests() == []


async def test_on_hubspot_one_deal_commits_through_the_api(
    fake: MessagesFake, mail: LocalMailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.script.clear()  # deal 1002 only: its reply is clean
    with HubSpotFake(page_size=2) as hubspot:
        seed_demo(hubspot)
        for name, value in {
            "REVIEW_GATE_CRM": "hubspot",
            "REVIEW_GATE_HUBSPOT_URL": hubspot.url,
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
        }.items():
            monkeypatch.setenv(name, value)
        run = _start(deal_id="1002")
        pending = await _waiting_review(run)
        assert pending.record.request.blocking == []
        assert hubspot.calls("POST", "/crm/v3/objects/notes") == []

        await decide(pending.record.request.id, Outcome.APPROVED, "bob")
        state = await asyncio.wait_for(run, WAIT)

        assert state.is_completed(), state
        [note] = hubspot.calls("POST", "/crm/v3/objects/notes")
        assert "6-week pilot for 40 trucks" in note["properties"]["hs_note_body"]
        assert len(hubspot.linked("deals", "1002", "notes")) == 3
        [message] = mail.messages()
        assert b"priya@bluefin.example" in message.read_bytes()


async def test_the_weekday_schedule_reaches_back_over_the_weekend_on_mondays() -> None:
    monday = datetime(2026, 6, 1, 7, tzinfo=UTC)
    assert default_since(monday, 24) == datetime(2026, 5, 29, 7, tzinfo=UTC)  # Friday morning
    assert default_since(monday + timedelta(days=1), 24) == monday
