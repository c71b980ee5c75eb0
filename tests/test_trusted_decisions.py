"""Only a verified, authorized approval of exactly this content commits: tried as an attacker with
API access would, against a real paused run, from every surface (CLI, raw resume as the UI form
sends it, a second channel's signed webhook).
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from gate_helpers import FINDINGS, WriteLine, run_cli, wait_until_waiting
from prefect import flow
from webhook_channel import WebhookIntake, body_signature, webhook_app

from prefect_review_gate.gates import (
    ReviewPolicy,
    commit,
    outcome_state,
    request_review,
    review_api,
)
from prefect_review_gate.gates.errors import ReviewClosed
from prefect_review_gate.gates.executors import Executors
from prefect_review_gate.gates.reviews import get_review
from prefect_review_gate.gates.votes import content_version
from prefect_review_gate.gates.waiting import prefect_api_target

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

SENDER_SECRET = "the approval tool's secret"
DECISION_SECRET = "shared by the intake and the gate"
EXECUTORS = Executors()


@EXECUTORS.register("test.write_line")
def _write(action: WriteLine, key: str) -> str:
    with open(action.path, "a", encoding="utf-8") as handle:
        handle.write(action.line + "\n")
    return key


@flow(name="trusted-gated-write")
async def trusted_write(path: str, line: str, policy: dict[str, Any], blocking: bool = False) -> Any:
    actions = [WriteLine(path=path, line=line)]
    verdict = await request_review(
        actions,
        policy=ReviewPolicy.model_validate(policy),
        findings=FINDINGS if blocking else [],
        requester="agent:test",
        channels=[WebhookIntake(DECISION_SECRET)],
    )
    try:
        report = await commit(verdict, executors=EXECUTORS)  # the approved content, edits included
    except ReviewClosed as closed:
        return outcome_state(closed)
    return report.model_dump(mode="json")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _intake() -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(webhook_app(SENDER_SECRET, DECISION_SECRET))
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/decisions"


async def _post(url: str, decision: dict[str, Any], secret: str = SENDER_SECRET) -> httpx.Response:
    body = json.dumps(decision).encode()
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=body, headers={"X-Signature": body_signature(secret, body)})


async def _raw_resume(review_id: str, **fields: Any) -> bool:
    """What the Prefect UI's form (or any REST call) sends, past every pre-check. True if accepted."""
    record = await get_review(review_id)
    run_input = {"content_hash": record.request.content_hash, **fields}
    target = prefect_api_target()
    assert target is not None
    answer = await review_api.resume_run(target, record.request.flow_run_id, run_input)
    return answer.get("status") == "ACCEPT"


async def _refused_in_run(line: str, review_id: str, approvals: int = 0) -> str:
    """The note the gate left after refusing the last decision, once the run waits again."""
    await wait_until_waiting(line, approvals=approvals)
    record = await get_review(review_id)
    assert record.is_open and len(record.votes) == approvals
    return record.note


async def test_typed_channel_identities_never_meet_a_quorum(prefect_api: str, tmp_path: Path) -> None:
    line = "quorum-by-one"
    policy = {
        "reviewers": ["hook:ana", "hook:ben", "hook-group:ops"],
        "approvals_required": 2,
        "timeout": 600,
    }
    run = asyncio.create_task(trusted_write(str(tmp_path / "out.txt"), line, policy, return_state=True))
    review_id = (await wait_until_waiting(line)).record.request.id
    runner, url = await _intake()
    try:
        # Mallory holds Prefect API access only. The CLI refuses each channel identity up front...
        for who in ("hook:ana", "hook-group:ops", "hook-group:ops/mallory", "slack:UALICE", " slack:UALICE "):
            code, _, err = await run_cli("approve", review_id, "--as", who, api=prefect_api)
            assert code == 1, (who, err)
            assert "counts only when the channel that verifies" in err or "not a reviewer" in err, err
        # ...and the gate refuses them when sent past the CLI, with a proof or group forged.
        assert await _raw_resume(review_id, outcome="approved", reviewer="hook:ana")
        assert "'hook:' identities" in await _refused_in_run(line, review_id)
        assert await _raw_resume(
            review_id, outcome="approved", reviewer="hook:mallory", member_of="hook-group:ops"
        )
        assert "counts only when" in await _refused_in_run(line, review_id)
        fake_proof = "v1.webhook.1796000000." + "0" * 64
        assert await _raw_resume(review_id, outcome="approved", reviewer="hook:ben", proof=fake_proof)
        assert "counts only when" in await _refused_in_run(line, review_id)

        # A forged sender signature gets 401 and resumes nothing.
        forged = await _post(url, {"review_id": review_id, "outcome": "approved", "user": "ana"}, "guess")
        assert forged.status_code == 401
        # Ana approves through the channel that knows her; Mallory cannot be Ben.
        ana = await _post(url, {"review_id": review_id, "outcome": "approved", "user": "ana"})
        assert ana.status_code == 202, ana.text
        await wait_until_waiting(line, approvals=1)
        again = await _post(url, {"review_id": review_id, "outcome": "approved", "user": "ana"})
        assert again.status_code == 409 and "already approved" in again.json()["error"]
        outsider = await _post(url, {"review_id": review_id, "outcome": "approved", "user": "mallory"})
        assert outsider.status_code == 403
        assert not (tmp_path / "out.txt").exists()

        ben = await _post(url, {"review_id": review_id, "outcome": "approved", "user": "ben"})
        assert ben.status_code == 202, ben.text
        state = await asyncio.wait_for(run, 60)
    finally:
        await runner.cleanup()
    assert state.is_completed()
    assert (tmp_path / "out.txt").read_text().splitlines() == [line]
    votes = (await get_review(review_id)).votes
    assert [(v.reviewer, v.channel, v.verified) for v in votes] == [
        ("hook:ana", "webhook", True),
        ("hook:ben", "webhook", True),
    ]


async def test_an_unchanged_edit_without_a_reason_does_not_commit(tmp_path: Path) -> None:
    line = "unchanged-edit"
    policy = {"reviewers": ["alice", "bob"], "timeout": 600}
    run = asyncio.create_task(
        trusted_write(str(tmp_path / "out.txt"), line, policy, blocking=True, return_state=True)
    )
    review = (await wait_until_waiting(line)).record
    same = review.request.actions
    assert await _raw_resume(review.request.id, outcome="approved", reviewer="alice", edited_actions=same)
    note = await _refused_in_run(line, review.request.id)
    assert "needs an override reason" in note
    record = await get_review(review.request.id)
    assert record.request.findings == review.request.findings and record.request.round == 0

    # A real edit with no `revalidate=` keeps the findings it was never checked against.
    edited = [{**same[0], "line": "edited line"}]
    assert await _raw_resume(review.request.id, outcome="approved", reviewer="alice", edited_actions=edited)
    await wait_until_waiting("edited line")
    record = await get_review(review.request.id)
    assert record.request.round == 1 and record.request.findings == review.request.findings
    assert record.votes == [] and not (tmp_path / "out.txt").exists()

    assert await _raw_resume(
        review.request.id,
        outcome="approved",
        reviewer="bob",
        override_reason="checked it",
        **_current(record),
    )
    state = await asyncio.wait_for(run, 60)
    assert state.is_completed()
    assert (tmp_path / "out.txt").read_text().splitlines() == ["edited line"]


async def test_a_form_opened_before_an_edit_cannot_approve_the_edited_content(tmp_path: Path) -> None:
    # Bob opens the Prefect UI's form on the first content; Alice then approves an edit. Prefect
    # resumes whichever wait is current, so bob's answer would count for content he never saw.
    line = "stale-form"
    policy = {"reviewers": ["alice", "bob"], "approvals_required": 2, "timeout": 600}
    run = asyncio.create_task(trusted_write(str(tmp_path / "out.txt"), line, policy, return_state=True))
    review = (await wait_until_waiting(line)).record
    bobs_form = {"outcome": "approved", "reviewer": "bob", "reason": "looks right"}
    bobs_form["content_version"] = content_version(review.request.content_hash)
    edited = [{**review.request.actions[0], "line": "edited by alice"}]
    assert await _raw_resume(review.request.id, outcome="approved", reviewer="alice", edited_actions=edited)
    await wait_until_waiting("edited by alice", approvals=1)

    assert not await _form_resume(review.request.id, bobs_form)  # refused before the run wakes
    record = await get_review(review.request.id)
    assert record.is_open and [v.reviewer for v in record.votes] == ["alice"]

    bobs_form["content_version"] = content_version(record.request.content_hash)  # reopened
    assert await _form_resume(review.request.id, bobs_form)
    state = await asyncio.wait_for(run, 60)
    assert state.is_completed()
    assert (tmp_path / "out.txt").read_text().splitlines() == ["edited by alice"]


async def _form_resume(review_id: str, answer: dict[str, Any]) -> bool:
    """What the Prefect UI's form sends: no content hash. True if the server accepted it."""
    record = await get_review(review_id)
    target = prefect_api_target()
    assert target is not None
    return (await review_api.resume_run(target, record.request.flow_run_id, answer)).get("status") == "ACCEPT"


def _current(record: Any) -> dict[str, Any]:
    return {"content_hash": record.request.content_hash}


async def test_the_sender_cannot_set_where_or_when_a_decision_was_made(tmp_path: Path) -> None:
    line = "sender-fields"
    run = asyncio.create_task(
        trusted_write(
            str(tmp_path / "out.txt"), line, {"reviewers": ["alice"], "timeout": 600}, return_state=True
        )
    )
    review = (await wait_until_waiting(line)).record
    accepted = await _raw_resume(
        review.request.id,
        outcome="approved",
        reviewer="alice",
        channel="slack",
        decided_at="2020-01-01T00:00:00Z",
        verified=True,
    )
    if not accepted:  # the server's schema check refused the extra fields: the run still waits
        await wait_until_waiting(line)
        assert await _raw_resume(review.request.id, outcome="approved", reviewer="alice")
    state = await asyncio.wait_for(run, 60)
    assert state.is_completed()
    [vote] = (await get_review(review.request.id)).votes
    assert (vote.channel, vote.verified) == ("prefect-api", False)
    assert vote.decided_at is not None and vote.decided_at.year >= 2026
