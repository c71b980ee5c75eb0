"""`review-gate approve|reject`: a decision from the terminal, without importing Prefect when it can be.

With PREFECT_API_URL in the environment the decision goes out over plain httpx (`review_session`):
a burst of reviewers' commands no longer queues behind Prefect's import. Either way every check,
refusal and wait is `deciding`'s, and the output and exit codes are the same (see
`review_commands` for how errors map to them).
"""

from __future__ import annotations

from prefect_review_gate.gates import deciding
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.review_api import ReviewApi
from prefect_review_gate.gates.review_session import run_with_review_api
from prefect_review_gate.gates.terminal import print_block
from prefect_review_gate.gates.votes import Outcome
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["PICKUP_SECONDS", "approve", "reject"]

# How long approve/reject wait for a run paused in-process to take their decision up (it polls for
# it, `pause_watch`); a suspended run needs a worker first, so they do not wait for it.
PICKUP_SECONDS = 10.0


def approve(review_id: str, reviewer: str, comment: str, override_reason: str) -> int:
    """Send an approval to the waiting run, and say what the gate made of it.

    Raises:
        InputError: unknown id; blocking findings and no override reason.
        ReviewGateError: already decided, cannot take effect, this reviewer already approved, or
            the gate inside the run refused it.
        UnauthorizedReviewer: not a listed reviewer, or the requester.
    """
    reviewer = _required("--as", reviewer)

    async def send(api: ReviewApi) -> tuple[ReviewRecord, ReviewRecord | None]:
        before = await _send(
            api,
            review_id,
            Outcome.APPROVED,
            reviewer,
            comment=comment.strip(),
            override_reason=override_reason.strip(),
        )
        return before, await _taken_up(api, before)

    before, after = run_with_review_api(send)
    warning = _pickup(before, after)
    print_block(_approval_sent(before, reviewer, stalled=bool(warning)) + warning)
    return 0


def reject(review_id: str, reviewer: str, reason: str) -> int:
    """Send a rejection to the waiting run; the reason is recorded as the reviewer's comment."""
    reviewer = _required("--as", reviewer)
    reason = _required("--reason", reason)

    async def send(api: ReviewApi) -> tuple[ReviewRecord, ReviewRecord | None]:
        before = await _send(api, review_id, Outcome.REJECTED, reviewer, comment=reason)
        return before, await _taken_up(api, before)

    before, after = run_with_review_api(send)
    actions = len(before.request.actions)
    print_block(
        f"Rejected review {review_id} as {reviewer}: {reason}\n"
        f"The run ends in state Rejected and commits none of its {actions} action(s)."
        + _pickup(before, after)
    )
    return 0


async def _send(
    api: ReviewApi,
    review_id: str,
    outcome: Outcome,
    reviewer: str,
    *,
    comment: str,
    override_reason: str = "",
) -> ReviewRecord:
    """Refuse early what cannot take effect, then decide on the record just read (one read, not two)."""
    item = await deciding.review_status(api, review_id)
    deciding.refuse_early(item)
    return await deciding.decide(
        api,
        review_id,
        outcome,
        reviewer,
        comment=comment,
        override_reason=override_reason,
        record=item.record,
    )


async def _taken_up(api: ReviewApi, before: ReviewRecord) -> ReviewRecord | None:
    if before.request.deployment_id is not None:
        return None
    after = await deciding.taken_up(api.store, before, PICKUP_SECONDS)
    if after is not None and after.is_open and after.note.startswith("Not counted"):
        # The gate's own check, on what the run stored, has the last word.
        raise ReviewGateError(f"review {before.request.id}: the gate did not count it: {after.note}")
    return after


def _pickup(before: ReviewRecord, after: ReviewRecord | None) -> str:
    """'' when the run took the decision up, or a suspended one will; else a warning line."""
    if after is not None or before.request.deployment_id is not None:
        return ""
    return (
        f"\nWarning: the run has not taken the decision up within {PICKUP_SECONDS:.0f} s; its process may "
        "have stopped. The decision is stored with the run and counts if the run is restarted; "
        f"`review-gate show {before.request.id}` shows where it stands."
    )


def _approval_sent(record: ReviewRecord, reviewer: str, stalled: bool = False) -> str:
    request = record.request
    count, needed = len(record.approvals) + 1, request.policy.approvals_required
    head = f"Approved review {request.id} as {reviewer} ({count}/{needed} approvals)."
    if stalled:
        return head  # what happens next depends on the run, which the warning after this is about
    if count >= needed:
        tail = (
            f"The run resumes and commits its {len(request.actions)} action(s); "
            f"`review-gate show {request.id}` shows the outcome."
        )
    else:
        others = [r for r in request.policy.reviewers if r not in {*record.approvals, reviewer}]
        tail = f"It needs {needed - count} more approval(s), from: {', '.join(others)}."
    return f"{head}\n{tail}"


def _required(option: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InputError(f"{option} must not be empty")
    return value
