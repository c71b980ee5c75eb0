"""Deciding a review from outside its run, without Prefect: the early checks, the send, the wait.

Two ways in share every line here. `reviews` reaches the API through Prefect's client and settings
(the Slack server, the sweepers, `review-gate approve|reject` without PREFECT_API_URL in the
environment); `decide_command` reaches it over plain httpx (`review_api.open_review_api`) when
PREFECT_API_URL is set, so that a reviewer's `approve` does not first spend a second of CPU
importing Prefect. Each passes its own `ReviewApi`; what is checked, refused and said is the same.

Nothing here is trusted by the gate: inside the run it applies the same decision rule (`rules`)
again before anything counts. These checks tell the person early, and say why.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prefect_review_gate.gates.errors import RunNotWaiting, UnauthorizedReviewer
from prefect_review_gate.gates.identity import normalize_identity
from prefect_review_gate.gates.proofs import DecisionSigner
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.review_api import PendingReview, ReviewApi, ReviewReader, with_state
from prefect_review_gate.gates.rules import Ballot, Refusal, RefusalCode, refusal
from prefect_review_gate.gates.votes import DecisionFields, Outcome
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["decide", "load_review", "refuse_early", "refused", "review_status", "taken_up"]


async def load_review(store: ReviewReader, review_id: str) -> ReviewRecord:
    """The review's latest record. Raises `InputError` for an unknown id or an unreadable record."""
    record = await store.load(review_id)
    if record is None:
        raise InputError(f"no review with id {review_id!r}; `review-gate pending` lists open reviews")
    return record


async def review_status(api: ReviewApi, review_id: str) -> PendingReview:
    """The review's latest record (decided or not) and where its flow run stands now."""
    record = await load_review(api.store, review_id)
    states = await api.run_states([record.request.flow_run_id])
    return with_state(record, states)


def refuse_early(item: PendingReview) -> None:
    """Say now, not after the run wakes, when no decision can take effect where it would land.

    Who may decide is the decision rule's, applied in `decide`.
    """
    record = item.record
    review_id = record.request.id
    if not record.is_open:
        return  # `decide` says "already decided" with the outcome
    if not item.run_state:
        raise ReviewGateError(
            f"review {review_id} is open but its flow run {record.request.flow_run_id} no longer exists "
            "on the Prefect API; nothing can resume it"
        )
    if item.run_ended:
        raise ReviewGateError(
            f"review {review_id} can no longer take effect: its flow run ended {item.run_state} while "
            "the review was open; `review-gate expire` closes it as abandoned"
        )
    if item.waiting_on and item.waiting_on != review_id:
        raise ReviewGateError(
            f"review {review_id} is no longer the one its flow run waits on (it waits on review "
            f"{item.waiting_on}, opened when the run's content changed); decide that one instead"
        )


async def decide(
    api: ReviewApi,
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

    `record` is the review as the caller just read it (`review_status`, Slack's delivery checking the
    click): passed, it is not read again; without it (or for another review) it is read here. Either
    way the decision is judged on a record read for this decision, never on none: an unreadable one
    raises before anything is sent. The rule is a courtesy check; the gate in the run checks every
    decision against its own state. Returns the record it was judged on.

    Raises:
        InputError: unknown review id; blocking findings and no override reason.
        UnauthorizedReviewer: the decision rule does not let `reviewer` decide this review.
        ReviewGateError: already decided, stale, already voted, or past the deadline.
        RunNotWaiting: the run is not paused for a decision right now (between two votes).
    """
    now = now or datetime.now(UTC)
    if record is None or record.request.id != review_id:
        record = await load_review(api.store, review_id)
    request = record.request
    reviewer, member_of = normalize_identity(reviewer), normalize_identity(member_of)
    ballot = Ballot(
        outcome=outcome,
        reviewer=reviewer,
        content_hash=request.content_hash,
        override_reason=override_reason,
        member_of=member_of,
        verified_by=signer.channel if signer else None,
    )
    problem = refusal(record, ballot, now)
    if problem is not None:
        raise refused(record, problem)
    if outcome is not Outcome.EXPIRED and now >= request.deadline:
        raise ReviewGateError(
            f"review {review_id} is past its deadline ({request.deadline:%Y-%m-%d %H:%M %Z}); "
            "it can only expire now (`review-gate expire`)"
        )
    decision = DecisionFields(
        outcome=outcome,
        reviewer=reviewer,
        comment=comment,
        override_reason=override_reason,
        content_hash=request.content_hash,
        member_of=member_of,
    )
    if signer is not None:
        decision = decision.model_copy(update={"proof": signer.sign(decision.claims(review_id), now)})
    accepted, reason = await api.resume(request.flow_run_id, decision.model_dump(mode="json"))
    if not accepted:
        # Between two votes of a quorum the run is briefly running again: saying so saves a retry guess.
        raise RunNotWaiting(
            f"review {review_id}: its flow run is not waiting for a decision right now "
            f"({reason or 'not paused'}); it may be resuming after another decision, try again shortly"
        )
    return record


def refused(record: ReviewRecord, problem: Refusal) -> ReviewGateError:
    """The error a refused decision raises: its kind says what the person can do about it."""
    review_id = record.request.id
    if problem.code is RefusalCode.NEEDS_OVERRIDE_REASON:
        count = len(record.request.blocking)
        return InputError(
            f"review {review_id} has {count} blocking finding(s): approving needs an override reason"
        )
    if problem.code in (RefusalCode.NOT_A_REVIEWER, RefusalCode.REQUESTER, RefusalCode.UNVERIFIED):
        allowed = ", ".join(record.request.policy.reviewers)
        return UnauthorizedReviewer(f"{problem}; who may decide review {review_id}: {allowed}")
    if problem.code is RefusalCode.CLOSED:
        return ReviewGateError(f"review {review_id} is already decided: {record.status.value}. {record.note}")
    if problem.code is RefusalCode.ALREADY_VOTED:
        approvals, needed = len(record.approvals), record.request.policy.approvals_required
        return ReviewGateError(f"review {review_id}: {problem} ({approvals}/{needed} so far)")
    return ReviewGateError(f"review {review_id}: {problem}")


async def taken_up(
    store: ReviewReader, before: ReviewRecord, timeout: float, poll: float = 0.25
) -> ReviewRecord | None:
    """The review once its run has handled one more decision than in `before`, or None.

    Every decision the gate handles, counted or refused, is saved on the record, so the record
    moving on is the run's acknowledgement. None after `timeout` seconds: the run did not take it up
    (a suspended run waits for a worker; a paused one may have lost its process).
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        latest = await store.load(before.request.id)
        if latest is not None and (latest.decisions_seen > before.decisions_seen or not latest.is_open):
            return latest
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(poll)
