"""Reviews as seen from outside the flow: list, show and decide them through the Prefect API.

Used by the CLI and the Slack server. Nothing here runs an action: deciding resumes the paused run
with a `ReviewDecision`, and the gate inside the run applies the policy again before anything counts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State, StateType

from prefect_review_gate.gates import records
from prefect_review_gate.gates.decision import Channel, Outcome, ReviewDecision
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.waiting import expired_decision, resume_with
from prefect_review_gate.validators.errors import InputError, ReviewGateError, UnauthorizedReviewer

__all__ = ["PendingReview", "decide", "expire_overdue", "get_review", "get_review_status", "list_pending"]

_PAGE = 200  # the API's largest page of flow runs


@dataclass(frozen=True)
class PendingReview:
    record: ReviewRecord
    waiting: bool  # the run is paused and can take a decision now
    run_state: str = ""  # the run's state name ("Paused", "Suspended", "Running"...); "" if it is gone


async def list_pending() -> list[PendingReview]:
    """Open reviews, oldest first, with whether their run is waiting for a decision right now."""
    async with get_client() as client:
        open_records = [r for r in await records.load_records(client) if r.is_open]
        states = await _run_states(client, [r.request.flow_run_id for r in open_records])
    open_records.sort(key=lambda r: r.request.created_at)
    return [_with_state(r, states) for r in open_records]


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
    async with get_client() as client:
        states = await _run_states(client, [record.request.flow_run_id])
    return _with_state(record, states)


async def _run_states(client: PrefectClient, run_ids: list[UUID]) -> dict[UUID, State]:
    """The current state of each run that still exists, in pages the API accepts.

    The pages are read concurrently: with hundreds of open reviews, reading these runs is most of
    the time `review-gate pending` waits on the API.
    """
    pages = [run_ids[start : start + _PAGE] for start in range(0, len(run_ids), _PAGE)]
    batches = await asyncio.gather(
        *(
            client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=page)), limit=_PAGE)
            for page in pages
        )
    )
    return {run.id: run.state for runs in batches for run in runs if run.state is not None}


def _with_state(record: ReviewRecord, states: dict[UUID, State]) -> PendingReview:
    state = states.get(record.request.flow_run_id)
    if state is None:
        return PendingReview(record, waiting=False)
    waiting = record.is_open and state.type is StateType.PAUSED
    return PendingReview(record, waiting=waiting, run_state=state.name or state.type.value.title())


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
