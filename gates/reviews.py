"""Reviews as seen from outside the flow: list, show and decide them through the Prefect API.

Used by the CLI and the Slack server. Nothing here runs an action: deciding resumes the paused run
with a `ReviewDecision`, and the gate inside the run applies the policy again before anything counts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect.client.orchestration import get_client

from prefect_review_gate.gates import records, review_api
from prefect_review_gate.gates.decision import Channel, Outcome, ReviewDecision
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.review_api import ApiTarget, PendingReview
from prefect_review_gate.gates.waiting import expired_decision, prefect_api_target, resume_with
from prefect_review_gate.validators.errors import InputError, ReviewGateError, UnauthorizedReviewer

__all__ = ["PendingReview", "decide", "expire_overdue", "get_review", "get_review_status", "list_pending"]


def api_target() -> ApiTarget:
    """The API Prefect's settings name (environment, profile or settings file).

    Raises `InputError` when none is configured: Prefect would otherwise start a throwaway server
    on its own database, whose reviews are not the ones people are waiting on.
    """
    target = prefect_api_target()
    if target is None:
        raise InputError(
            "PREFECT_API_URL is not set: point it at your Prefect server's API, "
            "e.g. `export PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )
    return target


async def list_pending() -> list[PendingReview]:
    """Open reviews, oldest first, with whether their run is waiting for a decision right now."""
    return await review_api.list_pending(api_target())


async def get_review(review_id: str) -> ReviewRecord:
    """The review's latest record. Raises `InputError` for an unknown id."""
    async with get_client() as client:
        record = await records.load_record(client, review_id)
    if record is None:
        raise InputError(f"no review with id {review_id!r}; `review-gate pending` lists open reviews")
    return record


async def get_review_status(review_id: str) -> PendingReview:
    """The review's latest record (decided or not) and where its flow run stands now.

    Raises `InputError` for an unknown id.
    """
    record = await get_review(review_id)
    async with api_target().client() as client:
        states = await review_api.read_run_states(client, [record.request.flow_run_id])
    return review_api.with_state(record, states)


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
        # Between two votes of a quorum the run is briefly running again: saying so saves a retry guess.
        raise ReviewGateError(
            f"review {review_id}: its flow run is not waiting for a decision right now "
            f"({reason or 'not paused'}); it may be resuming after another decision, try again shortly"
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
