"""`review-gate expire`, and the error mapping every review command shares, through the Prefect API.

`cli` imports this module only when one of these commands runs, so `review-gate validate` starts
without Prefect. Each command is one coroutine against the API that PREFECT_API_URL names
(`approve`, `reject` and `show` live in `decide_command` and `show_command`, which come here only
without it). Errors from httpx (in `review_api.run_against`) and Prefect are mapped at the boundary
into the package's own tree, so that the CLI prints one line and never a traceback:

    InputError        unknown id, a bad argument, PREFECT_API_URL unset or unreachable   (exit 2)
    ReviewGateError   refused: already decided, not a reviewer, the run is not waiting  (exit 1)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from prefect.exceptions import ObjectNotFound

from prefect_review_gate.gates import review_api, review_text, reviews
from prefect_review_gate.gates.terminal import print_block
from prefect_review_gate.validators.errors import InputError

__all__ = ["expire", "run_against_api"]

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


def expire() -> int:
    """Close what nobody can decide any more (overdue, orphaned); print what happened."""

    now = _now()

    async def sweep() -> tuple[list[reviews.PendingReview], reviews.SweepReport]:
        # Listed first only to name what was closed and what could not be; closing is sweep_reviews'.
        before = await reviews.list_pending()
        return before, await reviews.sweep_reviews(now)

    before, report = run_against_api(sweep)
    print_block(_expiry_report(before, report, now))
    return 0


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
