"""Waiting for one decision, without holding a worker when the run can be suspended.

From a deployment the gate suspends the run (the process exits; the flow re-runs from the top on
resume). Elsewhere it pauses in-process. Either way the key of each wait is `<review id>-<n>`, so a
re-run replays decisions already given, in order, instead of asking again.

Prefect's own pause timeout fails a run outright, so the gate keeps its deadline itself: in-process,
a timer resumes the run with an `expired` decision at the deadline; for suspended runs a sweeper
(`review-gate expire`, `review-gate serve`, or the `expire-overdue` deployment in prefect.yaml)
does the same. Prefect's timeout is set a grace period later, as a backstop that still fails closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.flow_runs import apause_flow_run, asuspend_flow_run
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL

from prefect_review_gate.gates import review_api
from prefect_review_gate.gates.decision import Channel, Outcome, ReviewDecision
from prefect_review_gate.gates.request import ReviewRequest
from prefect_review_gate.gates.review_api import ApiTarget

__all__ = ["BACKSTOP_GRACE", "expired_decision", "prefect_api_target", "resume_with", "wait_for_decision"]

BACKSTOP_GRACE = timedelta(minutes=2)
POLL_INTERVAL_SECONDS = 1  # how soon a paused, in-process run notices it was resumed


def expired_decision(request: ReviewRequest, when: datetime) -> ReviewDecision:
    return ReviewDecision(
        outcome=Outcome.EXPIRED,
        reviewer="review-gate",
        comment="Nobody decided before the deadline.",
        content_hash=request.content_hash,
        channel=Channel.GATE,
        decided_at=when,
    )


async def resume_with(flow_run_id: UUID, decision: ReviewDecision) -> tuple[bool, str]:
    """Resume a paused run with a decision. Returns (accepted, reason the server gave if not).

    Against a server (PREFECT_API_URL set) the resume is one plain POST that `review_api` retries
    at once while a SQLite-backed server is busy: Prefect's own client sleeps 2 s or more first,
    and a reviewer is waiting on this call. Prefect's in-process API is reached through its client.
    """
    run_input = decision.model_dump(mode="json")
    target = prefect_api_target()
    if target is not None:
        answer = await review_api.resume_run(target, flow_run_id, run_input)
    else:
        async with get_client() as client:
            result = await client.resume_flow_run(flow_run_id, run_input=run_input)
        answer = result.model_dump(mode="json")
    details = answer.get("details") or {}
    return answer.get("status") == "ACCEPT", str(details.get("reason") or "")


def prefect_api_target() -> ApiTarget | None:
    """The API Prefect's settings name (environment, profile or settings file), if any."""
    url = PREFECT_API_URL.value()
    if not url:
        return None
    # Setting.value() hands these back unwrapped (str), as Prefect's own client uses them.
    return ApiTarget(str(url), PREFECT_API_KEY.value(), PREFECT_API_AUTH_STRING.value())


async def wait_for_decision(
    request: ReviewRequest, sequence: int, now: datetime
) -> tuple[ReviewDecision, datetime | None]:
    """Block until the next decision on `request` (or its replay after a suspend).

    Returns the decision and when the Prefect server received it: the server's time, not the
    sender's, decides whether it came before the deadline, and stays the same on every replay.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("the review gate waits only inside a flow run")
    form = ReviewDecision.with_initial_data(description=request.describe(), content_hash=request.content_hash)
    key = f"{request.id}-{sequence}"
    remaining = max((request.deadline - now).total_seconds(), 0.0)
    backstop = int(remaining + BACKSTOP_GRACE.total_seconds())
    if context.flow_run.deployment_id is not None:
        decision = await asuspend_flow_run(wait_for_input=form, key=key, timeout=backstop)
        return _typed(decision), await _received_at(context.flow_run.id, key)
    timer = asyncio.create_task(_expire_at_deadline(context.flow_run.id, request, remaining))
    try:
        decision = await apause_flow_run(
            wait_for_input=form, key=key, timeout=backstop, poll_interval=POLL_INTERVAL_SECONDS
        )
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer
    return _typed(decision), await _received_at(context.flow_run.id, key)


def _typed(decision: ReviewDecision) -> ReviewDecision:
    # The form is a subclass made by with_initial_data; callers get the plain model.
    return ReviewDecision.model_validate(decision.model_dump())


async def _received_at(flow_run_id: UUID, key: str) -> datetime | None:
    """When the server stored the input that resumed the wait keyed `key` (Paused or Suspended)."""
    async with get_client() as client:
        for state_name in ("paused", "suspended"):
            prefix = f"{state_name}-{key}-response"
            found = await client.filter_flow_run_input(
                flow_run_id=flow_run_id, key_prefix=prefix, limit=1, exclude_keys=set()
            )
            if found and found[0].created is not None:
                return found[0].created
    return None


async def _expire_at_deadline(flow_run_id: UUID, request: ReviewRequest, delay: float) -> None:
    await asyncio.sleep(delay)
    # Retry briefly: the run may not have reached its paused state yet when the deadline is near.
    for _ in range(20):
        accepted, _reason = await resume_with(flow_run_id, expired_decision(request, request.deadline))
        if accepted:
            return
        await asyncio.sleep(0.5)
