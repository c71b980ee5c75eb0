"""Reviews as seen from outside the flow: list, show and decide them through the Prefect API.

Used by the CLI and the Slack server. Nothing here runs an action: deciding resumes the paused run
with a `ReviewDecision`, and the gate inside the run applies the same decision rule (`rules`) again
before anything counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect_review_gate.gates import deciding, review_api
from prefect_review_gate.gates.decision import Outcome
from prefect_review_gate.gates.events import emit_review_event
from prefect_review_gate.gates.proofs import DecisionSigner
from prefect_review_gate.gates.request import ReviewRecord, ReviewStatus
from prefect_review_gate.gates.review_api import ApiTarget, PendingReview, ReviewApi
from prefect_review_gate.gates.store_client import open_store
from prefect_review_gate.gates.waiting import (
    expired_decision,
    prefect_api_target,
    resume_with,
    resume_with_input,
)
from prefect_review_gate.validators.errors import InputError

__all__ = [
    "PendingReview",
    "SweepReport",
    "decide",
    "expire_overdue",
    "get_review",
    "get_review_status",
    "list_pending",
    "open_review_api",
    "sweep_reviews",
    "taken_up",
]


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
    async with open_store() as store:
        return await deciding.load_review(store, review_id)


async def get_review_status(review_id: str) -> PendingReview:
    """The review's latest record (decided or not) and where its flow run stands now.

    Raises `InputError` for an unknown id.
    """
    async with open_review_api() as api:
        return await deciding.review_status(api, review_id)


@asynccontextmanager
async def open_review_api() -> AsyncIterator[ReviewApi]:
    """Deciding's `ReviewApi` on Prefect's client and settings (`review_api.open_review_api` is the
    same over plain httpx, for commands that must not import Prefect)."""
    async with open_store() as store:
        yield ReviewApi(store, _read_run_states, resume_with_input)


async def _read_run_states(run_ids: list[UUID]) -> dict[UUID, review_api.RunState]:
    async with api_target().client() as client:
        return await review_api.read_run_states(client, run_ids)


async def decide(
    review_id: str,
    outcome: Outcome,
    reviewer: str,
    *,
    comment: str = "",
    override_reason: str = "",
    member_of: str = "",
    signer: DecisionSigner | None = None,
    now: datetime | None = None,
    record: ReviewRecord | None = None,
) -> ReviewRecord:
    """Send one reviewer's decision to the waiting run, after the decision rule says it may count.

    `signer` is the verifying channel's (the Slack server's): it signs the decision so that the
    gate counts `reviewer` and `member_of` as verified. Without it the reviewer is a name typed
    by someone with API access, and counts only where the policy lists it as a plain name.
    Returns the record the decision was judged on.

    `record` is the review as the caller just read it (Slack's delivery reads it to check the
    click): passed, it is not read again. The rule below is a courtesy check either way; the gate
    in the run checks every decision against its own state.

    Raises:
        InputError: unknown review id; blocking findings and no override reason.
        UnauthorizedReviewer: the decision rule does not let `reviewer` decide this review.
        ReviewGateError: already decided, stale, already voted, or past the deadline.
        RunNotWaiting: the run is not paused for a decision right now (between two votes).
    """
    async with open_review_api() as api:
        return await deciding.decide(
            api,
            review_id,
            outcome,
            reviewer,
            comment=comment,
            override_reason=override_reason,
            member_of=member_of,
            signer=signer,
            now=now,
            record=record,
        )


async def taken_up(before: ReviewRecord, timeout: float, poll: float = 0.25) -> ReviewRecord | None:
    """`deciding.taken_up` on Prefect's client: the review once its run handled one more decision."""
    async with open_store() as store:
        return await deciding.taken_up(store, before, timeout, poll)


# How long past the deadline a review whose run is not waiting may stay open: a live run would have
# expired it by then (in-process, at the deadline; suspended, at the next sweep after a worker ran it).
ORPHAN_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class SweepReport:
    expired: list[str] = field(default_factory=list)  # waiting past the deadline: resumed as expired
    abandoned: list[str] = field(default_factory=list)  # their run ended while they were open


async def sweep_reviews(now: datetime | None = None) -> SweepReport:
    """Close what nobody can decide any more: expire overdue waiting reviews, abandon orphaned ones.

    An open review whose run is gone or ended (crashed, failed by Prefect's pause backstop,
    cancelled), or that is still not waiting well past its deadline (a run left Running when its
    process died), would otherwise be listed as pending for ever. Its record is closed as `abandoned`,
    which is only a projection: if the run is ever retried, the gate rebuilds the review from the
    run's inputs and the record follows.
    """
    now = now or datetime.now(UTC)
    report = SweepReport()
    for pending in await list_pending():
        request = pending.record.request
        orphaned = not pending.waiting and now >= request.deadline + ORPHAN_GRACE
        if pending.run_ended or orphaned:
            if await _abandon(pending, now):
                report.abandoned.append(request.id)
        elif pending.waiting and request.deadline <= now:
            accepted, _ = await resume_with(request.flow_run_id, expired_decision(request))
            if accepted:
                report.expired.append(request.id)
    return report


async def expire_overdue(now: datetime | None = None) -> list[str]:
    """`sweep_reviews`, for callers that report only the expired ids."""
    return (await sweep_reviews(now)).expired


async def _abandon(pending: PendingReview, now: datetime) -> bool:
    """Close an orphaned review's record; False when the gate closed it itself meanwhile."""
    async with open_store() as store:
        # The gate saves its outcome before its run can end: read after seeing the end, a record
        # still open was never decided (a list read earlier could predate the gate's last save).
        latest = await store.load(pending.record.request.id)
        if latest is None or not latest.is_open:
            return False
        how = (
            f"ended {pending.run_state}"
            if pending.run_ended and pending.run_state
            else "was deleted"
            if pending.run_ended
            else f"stayed {pending.run_state} past the deadline with no decision taken up"
        )
        note = f"Abandoned: its flow run {how} while the review was open; none of its actions was committed."
        record = latest.model_copy(update={"status": ReviewStatus.ABANDONED, "note": note, "updated_at": now})
        await store.save(record)
    emit_review_event("abandoned", record, {"run_state": pending.run_state})
    return True
