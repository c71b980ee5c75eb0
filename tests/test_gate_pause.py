"""The gate on a real Prefect API, pause path (a flow run outside any deployment)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from gate_helpers import EXECUTORS, WriteLine, events_about
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import StateType

from prefect_review_gate.gates import (
    Outcome,
    ReviewPolicy,
    commit,
    outcome_state,
    request_review,
)
from prefect_review_gate.gates.decision import ReviewDecision
from prefect_review_gate.gates.errors import ReviewClosed, UnauthorizedReviewer
from prefect_review_gate.gates.reviews import decide, get_review, list_pending
from prefect_review_gate.gates.waiting import resume_with
from prefect_review_gate.validators import Finding, ReviewGateError, Severity

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]


@flow
async def gated_append(path: str, line: str, policy: dict[str, Any], blocking: bool = False) -> Any:
    actions = [WriteLine(path=path, line=line)]  # its executor appends the line: counted, not mocked
    findings = (
        [
            Finding(
                code="unsupported_number",
                severity=Severity.BLOCK,
                message="400% is in no source",
                start=0,
                end=4,
            )
        ]
        if blocking
        else []
    )
    verdict = await request_review(
        actions, policy=ReviewPolicy.model_validate(policy), findings=findings, requester="agent:test"
    )
    try:
        report = await commit(verdict, actions, executors=EXECUTORS)
    except ReviewClosed as closed:
        return outcome_state(closed)
    return report.model_dump(mode="json")


async def _wait_paused(flow_name_line: str, timeout: float = 60) -> str:
    """The review id of the open review whose action writes `flow_name_line`, once its run is paused."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for pending in await list_pending():
            if pending.waiting and any(
                a.get("line") == flow_name_line for a in pending.record.request.actions
            ):
                return pending.record.request.id
        await asyncio.sleep(0.2)
    raise AssertionError(f"no paused review for {flow_name_line!r}")


async def _run_with(
    tmp_path: Path, line: str, policy: dict[str, Any], reviewers: Callable[[str], Awaitable[None]], **kw: Any
) -> tuple[Any, list[str]]:
    out = tmp_path / "side-effects.txt"
    run = asyncio.create_task(gated_append(str(out), line, policy, return_state=True, **kw))
    review_id = await _wait_paused(line)
    await reviewers(review_id)
    state = await asyncio.wait_for(run, 60)
    lines = out.read_text().splitlines() if out.exists() else []
    return state, lines


POLICY = {"reviewers": ["alice", "bob", "carol"], "timeout": 600}


async def test_approve_commits_once_and_records_everything(tmp_path: Path) -> None:
    async def approve(review_id: str) -> None:
        await decide(review_id, Outcome.APPROVED, "alice", comment="looks right")

    state, lines = await _run_with(tmp_path, "approved-line", POLICY, approve)
    assert state.is_completed(), state
    assert lines == ["approved-line"]
    result = await state.result()
    assert result["outcomes"][0]["replayed"] is False
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)
        # Filtered by run: the session's server holds every test's artifacts, more than one page.
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
    assert {"review-gate", "agent:test"} <= set(run.tags)
    review_id = result["review_id"]
    # One card on the run, kept up to date (not one identical card per save), in markdown.
    [card] = [a for a in artifacts if a.flow_run_id == run.id and a.key and a.key.startswith("review-gate-")]
    assert (card.key, card.type) == (f"review-gate-{review_id}-review", "markdown")
    assert f"# Review {review_id}: approved" in str(card.data) and "looks right" in str(card.data)
    record = await get_review(review_id)
    assert record.status.value == "approved"
    assert {"review_gate.requested", "review_gate.approved", "review_gate.committed"} <= await events_about(
        run.id
    )
    assert [(v.reviewer, v.channel, v.verified, v.comment) for v in record.votes] == [
        ("alice", "prefect-api", False, "looks right")
    ]


async def test_reject_runs_nothing_and_ends_in_a_rejected_state(tmp_path: Path) -> None:
    async def reject(review_id: str) -> None:
        await decide(review_id, Outcome.REJECTED, "bob", comment="invented figure")

    state, lines = await _run_with(tmp_path, "rejected-line", POLICY, reject)
    assert lines == []
    assert state.type is StateType.CANCELLED and state.name == "Rejected"
    assert "invented figure" in (state.message or "")


async def test_unauthorized_and_requester_are_refused_and_the_review_keeps_waiting(tmp_path: Path) -> None:
    async def outsiders_then_alice(review_id: str) -> None:
        with pytest.raises(UnauthorizedReviewer):
            await decide(review_id, Outcome.APPROVED, "mallory")
        record = await get_review(review_id)
        # A hand-made resume that skips the CLI's check is refused by the gate itself.
        for who in ("mallory", "agent:test"):
            forged = ReviewDecision(
                outcome=Outcome.APPROVED,
                reviewer=who,
                content_hash=record.request.content_hash,
            )
            accepted, _ = await resume_with(record.request.flow_run_id, forged)
            assert accepted
            await _wait_paused("guarded-line")
        await decide(review_id, Outcome.APPROVED, "alice")

    policy = {**POLICY, "reviewers": ["alice", "agent:test"]}
    state, lines = await _run_with(tmp_path, "guarded-line", policy, outsiders_then_alice)
    assert state.is_completed()
    assert lines == ["guarded-line"]


async def test_quorum_two_of_three_needs_distinct_people(tmp_path: Path) -> None:
    async def votes(review_id: str) -> None:
        await decide(review_id, Outcome.APPROVED, "alice")
        await _wait_paused("quorum-line")
        record = await get_review(review_id)
        assert record.is_open and record.approvals == ["alice"]
        with pytest.raises(ReviewGateError, match="already approved"):
            await decide(review_id, Outcome.APPROVED, "alice")  # the same person again
        # Past the pre-check, straight to the run: the gate's own rule refuses it too.
        again = ReviewDecision(
            outcome=Outcome.APPROVED, reviewer=" alice ", content_hash=record.request.content_hash
        )
        assert (await resume_with(record.request.flow_run_id, again))[0]
        await _wait_paused("quorum-line")
        record = await get_review(review_id)
        assert record.approvals == ["alice"] and "already approved" in record.note
        await decide(review_id, Outcome.APPROVED, "carol")

    state, lines = await _run_with(tmp_path, "quorum-line", {**POLICY, "approvals_required": 2}, votes)
    assert state.is_completed()
    assert lines == ["quorum-line"]
    review = await get_review((await state.result())["review_id"])
    assert review.approvals == ["alice", "carol"]


async def test_invalid_resume_input_is_refused_and_the_run_keeps_waiting(tmp_path: Path) -> None:
    async def bad_then_good(review_id: str) -> None:
        record = await get_review(review_id)
        async with get_client() as client:
            for bad in ({}, {"outcome": "maybe", "reviewer": "alice"}, {"reviewer": "alice"}):
                result = await client.resume_flow_run(record.request.flow_run_id, run_input=bad)
                assert result.status.value == "REJECT", bad
                run = await client.read_flow_run(record.request.flow_run_id)
                assert run.state is not None and run.state.type is StateType.PAUSED
        await decide(review_id, Outcome.REJECTED, "alice")

    state, lines = await _run_with(tmp_path, "invalid-input-line", POLICY, bad_then_good)
    assert state.name == "Rejected" and lines == []


async def test_blocking_findings_need_an_override_reason(tmp_path: Path) -> None:
    async def approve_with_reason(review_id: str) -> None:
        with pytest.raises(Exception, match="override reason"):
            await decide(review_id, Outcome.APPROVED, "alice")
        await decide(
            review_id,
            Outcome.APPROVED,
            "alice",
            override_reason="figure checked by phone",
        )

    state, lines = await _run_with(tmp_path, "override-line", POLICY, approve_with_reason, blocking=True)
    assert state.is_completed() and lines == ["override-line"]
    record = await get_review((await state.result())["review_id"])
    assert record.votes[0].override_reason == "figure checked by phone"


async def test_expiry_ends_the_run_expired_before_prefects_timeout(tmp_path: Path) -> None:
    out = tmp_path / "side-effects.txt"
    state = await asyncio.wait_for(
        gated_append(str(out), "expiring-line", {**POLICY, "timeout": 2}, return_state=True), 60
    )
    assert state.type is StateType.CANCELLED and state.name == "Expired", state
    assert not out.exists()


async def test_double_resume_after_the_decision_is_refused(tmp_path: Path) -> None:
    seen: dict[str, str] = {}

    async def approve_twice(review_id: str) -> None:
        seen["id"] = review_id
        await decide(review_id, Outcome.APPROVED, "alice")

    _, lines = await _run_with(tmp_path, "double-line", POLICY, approve_twice)
    assert lines == ["double-line"]
    with pytest.raises(Exception, match="already decided"):
        await decide(seen["id"], Outcome.APPROVED, "bob")
