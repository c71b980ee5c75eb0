"""Reviews as seen from outside the flow: list, show and decide them through the Prefect API.

Used by the CLI and the Slack server. Nothing here runs an action: deciding resumes the paused run
with a `ReviewDecision`, and the gate inside the run applies the policy again before anything counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType

from prefect_review_gate.gates import records
from prefect_review_gate.gates.decision import Channel, Outcome, ReviewDecision
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.waiting import expired_decision, resume_with
from prefect_review_gate.validators.errors import InputError, ReviewGateError, UnauthorizedReviewer

__all__ = ["PendingReview", "decide", "expire_overdue", "get_review", "list_pending"]


@dataclass(frozen=True)
class PendingReview:
    record: ReviewRecord
    waiting: bool  # the run is paused and can take a decision now


async def list_pending() -> list[PendingReview]:
    """Open reviews, oldest first, with whether their run is waiting for a decision right now."""
    async with get_client() as client:
        open_records = [r for r in await records.load_records(client) if r.is_open]
        run_ids = [r.request.flow_run_id for r in open_records]
        paused: set[object] = set()
        for start in range(0, len(run_ids), 200):
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids[start : start + 200])),
                limit=200,
            )
            paused |= {run.id for run in runs if run.state and run.state.type is StateType.PAUSED}
    open_records.sort(key=lambda r: r.request.created_at)
    return [PendingReview(r, r.request.flow_run_id in paused) for r in open_records]


async def get_review(review_id: str) -> ReviewRecord:
    """The review's latest record. Raises `InputError` for an unknown id."""
    async with get_client() as client:
        record = await records.load_record(client, review_id)
    if record is None:
        raise InputError(f"no review with id {review_id!r}; `review-gate pending` lists open reviews")
    return record


async def decide(
    review_id: str,
    outcome: Outcome,
    reviewer: str,
    *,
    channel: Channel,
    comment: str = "",
    override_reason: str = "",
    now: datetime | None = None,
) -> ReviewRecord:
    """Send one reviewer's decision to the waiting run.

    Raises:
        InputError: unknown review id.
        ReviewGateError: the review is already decided, or its run is not waiting for a decision.
        UnauthorizedReviewer: the policy does not let `reviewer` decide this review.
    """
    record = await get_review(review_id)
    request = record.request
    if not record.is_open:
        raise ReviewGateError(f"review {review_id} is already decided: {record.status.value}. {record.note}")
    if not request.policy.may_decide(reviewer, request.requester):
        why = "is the requester" if reviewer == request.requester else "is not a reviewer of this request"
        allowed = ", ".join(request.policy.reviewers)
        raise UnauthorizedReviewer(f"{reviewer} {why}; who may decide: {allowed}")
    if outcome is Outcome.APPROVED and request.blocking and not override_reason.strip():
        count = len(request.blocking)
        raise InputError(
            f"review {review_id} has {count} blocking finding(s): approving needs an override reason"
        )
    decision = ReviewDecision(
        outcome=outcome,
        reviewer=reviewer,
        comment=comment,
        override_reason=override_reason,
        content_hash=request.content_hash,
        channel=channel,
        decided_at=now or datetime.now(UTC),
    )
    accepted, reason = await resume_with(request.flow_run_id, decision)
    if not accepted:
        raise ReviewGateError(
            f"review {review_id}: the run did not take the decision ({reason or 'not paused'})"
        )
    return record


async def expire_overdue(now: datetime | None = None) -> list[str]:
    """Resume every waiting review past its deadline with an `expired` decision. Returns their ids."""
    now = now or datetime.now(UTC)
    expired = []
    for pending in await list_pending():
        request = pending.record.request
        if pending.waiting and request.deadline <= now:
            accepted, _ = await resume_with(request.flow_run_id, expired_decision(request, request.deadline))
            if accepted:
                expired.append(request.id)
    return expired
