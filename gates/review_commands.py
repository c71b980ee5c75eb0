"""`review-gate show|approve|reject|expire`: reviews from the terminal, through the Prefect API.

`cli` imports this module only when one of these commands runs, so `review-gate validate` starts
without Prefect. Each command is one coroutine against the API that PREFECT_API_URL names. Errors
from httpx (in `review_api.run_against`) and Prefect are mapped at the boundary into the package's
own tree, so that the CLI prints one line and never a traceback:

    InputError        unknown id, a bad argument, PREFECT_API_URL unset or unreachable   (exit 2)
    ReviewGateError   refused: already decided, not a reviewer, the run is not waiting  (exit 1)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from prefect.exceptions import ObjectNotFound

from prefect_review_gate.gates import review_api, review_text, reviews
from prefect_review_gate.gates.decision import Outcome
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.ui_links import flow_run_url
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["approve", "expire", "reject", "run_against_api", "show"]

T = TypeVar("T")


def run_against_api(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work()` against the Prefect API, mapping foreign errors to one readable `ReviewGateError`."""
    url = reviews.api_target().url

    async def guarded() -> T:
        try:
            return await work()
        except ObjectNotFound as exc:
            raise InputError(f"not found on the Prefect API at {url} (PREFECT_API_URL): {exc}") from None

    return review_api.run_against(url, guarded)


def _now() -> datetime:
    return datetime.now(UTC)


def _print(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def show(review_id: str, as_json: bool) -> int:
    """Print one review in full (any status). Raises `InputError` for an unknown id."""
    item = run_against_api(lambda: reviews.get_review_status(review_id))
    url = flow_run_url(item.record.request.flow_run_id)
    if as_json:
        _print_json(review_text.review_document(item, url))
    else:
        _print(review_text.review_details(item, _now(), url))
    return 0


def approve(review_id: str, reviewer: str, comment: str, override_reason: str) -> int:
    """Send an approval to the waiting run, and say what the gate made of it.

    Raises:
        InputError: unknown id; blocking findings and no override reason.
        ReviewGateError: already decided, cannot take effect, this reviewer already approved, or
            the gate inside the run refused it.
        UnauthorizedReviewer: not a listed reviewer, or the requester.
    """
    reviewer = _required("--as", reviewer)

    async def send() -> tuple[ReviewRecord, ReviewRecord | None]:
        await _refuse_early(review_id)
        before = await reviews.decide(
            review_id,
            Outcome.APPROVED,
            reviewer,
            comment=comment.strip(),
            override_reason=override_reason.strip(),
        )
        return before, await _taken_up(before)

    before, after = run_against_api(send)
    warning = _pickup(before, after)
    _print(_approval_sent(before, reviewer, stalled=bool(warning)) + warning)
    return 0


def reject(review_id: str, reviewer: str, reason: str) -> int:
    """Send a rejection to the waiting run; the reason is recorded as the reviewer's comment."""
    reviewer = _required("--as", reviewer)
    reason = _required("--reason", reason)

    async def send() -> tuple[ReviewRecord, ReviewRecord | None]:
        await _refuse_early(review_id)
        before = await reviews.decide(review_id, Outcome.REJECTED, reviewer, comment=reason)
        return before, await _taken_up(before)

    before, after = run_against_api(send)
    actions = len(before.request.actions)
    _print(
        f"Rejected review {review_id} as {reviewer}: {reason}\n"
        f"The run ends in state Rejected and commits none of its {actions} action(s)."
        + _pickup(before, after)
    )
    return 0


# How long approve/reject wait for a run paused in-process to take their decision up (it polls
# every second); a suspended run needs a worker first, so they do not wait for it.
PICKUP_SECONDS = 10.0


async def _taken_up(before: ReviewRecord) -> ReviewRecord | None:
    if before.request.deployment_id is not None:
        return None
    after = await reviews.taken_up(before, PICKUP_SECONDS)
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


def expire() -> int:
    """Close what nobody can decide any more (overdue, orphaned); print what happened."""

    now = _now()

    async def sweep() -> tuple[list[reviews.PendingReview], reviews.SweepReport]:
        # Listed first only to name what was closed and what could not be; closing is sweep_reviews'.
        before = await reviews.list_pending()
        return before, await reviews.sweep_reviews(now)

    before, report = run_against_api(sweep)
    _print(_expiry_report(before, report, now))
    return 0


def _required(option: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InputError(f"{option} must not be empty")
    return value


async def _refuse_early(review_id: str) -> None:
    """Say now, not after the run wakes, when no decision can take effect where it would land.

    Who may decide is the decision rule's, applied in `reviews.decide`.
    """
    item = await reviews.get_review_status(review_id)
    record = item.record
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


def _expiry_report(before: list[reviews.PendingReview], report: reviews.SweepReport, now: datetime) -> str:
    expired, abandoned = report.expired, report.abandoned
    overdue = [p for p in before if p.record.request.deadline <= now and p.record.request.id not in abandoned]
    if not overdue and not expired and not abandoned:
        return "No open review is past its deadline or orphaned."
    known = {p.record.request.id: p for p in before}
    lines: list[str] = []
    if expired:
        lines.append(f"Expired {len(expired)} review(s) past their deadline; their runs commit nothing:")
        lines += [_expired_line(review_id, known.get(review_id), now) for review_id in expired]
    if abandoned:
        lines.append(f"Closed {len(abandoned)} review(s) as abandoned: their flow run ended or is gone:")
        for review_id in abandoned:
            item = known.get(review_id)
            lines.append(f"  {review_id}  run {item.run_state or 'gone' if item else 'gone'}")
    stuck = [p for p in overdue if p.record.request.id not in expired]
    if stuck:
        lines.append(f"Past the deadline but not expired, because the run is not waiting ({len(stuck)}):")
        lines += [f"  {p.record.request.id}  run {p.run_state or 'gone'}" for p in stuck]
    return "\n".join(lines)


def _expired_line(review_id: str, item: reviews.PendingReview | None, now: datetime) -> str:
    if item is None:
        return f"  {review_id}"
    request = item.record.request
    late = review_text.format_age((now - request.deadline).total_seconds())
    run = request.flow_run_name or str(request.flow_run_id)
    return f"  {review_id}  {request.requester}  flow run {run}  deadline passed {late} ago"
