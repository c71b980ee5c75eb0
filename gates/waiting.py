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
import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.flow_runs import asuspend_flow_run
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY, PREFECT_API_URL

from prefect_review_gate.gates import review_api
from prefect_review_gate.gates.decision import Outcome, ReviewDecision
from prefect_review_gate.gates.pause_watch import pause_in_process
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest
from prefect_review_gate.gates.review_api import ApiTarget
from prefect_review_gate.gates.review_form import review_form
from prefect_review_gate.gates.store import ReviewStore, StoredDecision, wait_key
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = [
    "BACKSTOP_GRACE",
    "expired_decision",
    "prefect_api_target",
    "resume_with",
    "resume_with_input",
    "wait_for_decision",
]

_LOG = logging.getLogger("prefect_review_gate.gate")
BACKSTOP_GRACE = timedelta(minutes=2)


def expired_decision(request: ReviewRequest) -> ReviewDecision:
    """What the gate's sweepers send at the deadline; the gate checks the time itself."""
    return ReviewDecision(
        outcome=Outcome.EXPIRED,
        reviewer="review-gate",
        comment="Nobody decided before the deadline.",
        content_hash=request.content_hash,
    )


async def resume_with(flow_run_id: UUID, decision: ReviewDecision) -> tuple[bool, str]:
    """Resume a paused run with a decision. Returns (accepted, reason the server gave if not)."""
    return await resume_with_input(flow_run_id, decision.model_dump(mode="json"))


async def resume_with_input(flow_run_id: UUID, run_input: dict[str, Any]) -> tuple[bool, str]:
    """Resume a paused run with a decision's JSON. Returns (accepted, reason the server gave if not).

    Against a server (PREFECT_API_URL set) the resume is one plain POST that `review_api` retries
    at once while a SQLite-backed server is busy: Prefect's own client sleeps 2 s or more first,
    and a reviewer is waiting on this call. Prefect's in-process API is reached through its client.
    """
    target = prefect_api_target()
    if target is not None:
        answer = await review_api.resume_run(target, flow_run_id, run_input)
    else:
        async with get_client() as client:
            result = await client.resume_flow_run(flow_run_id, run_input=run_input)
        answer = result.model_dump(mode="json")
    return review_api.resume_answer(answer)


def prefect_api_target() -> ApiTarget | None:
    """The API Prefect's settings name (environment, profile or settings file), if any."""
    url = PREFECT_API_URL.value()
    if not url:
        return None
    # Setting.value() hands these back unwrapped (str), as Prefect's own client uses them.
    return ApiTarget(str(url), PREFECT_API_KEY.value(), PREFECT_API_AUTH_STRING.value())


async def wait_for_decision(
    store: ReviewStore, record: ReviewRecord, sequence: int, now: datetime, *, opened_here: bool = False
) -> StoredDecision:
    """The decision input number `sequence` of `record`'s review: the stored one, or the next to come.

    The run's inputs are the review's log. An input already stored (a re-run after a suspend, a
    flow retry, a restart) is returned as stored, without pausing; otherwise the run pauses (or
    suspends, from a deployment) until one is. Prefect's own replay of pause keys is not relied on:
    a flow retry resets it. `opened_here`: this process opened the review, so no wait it has not
    paused for yet can have a decision (the server takes one only for the wait a run is paused
    on), and the first look is skipped: two requests per wait on a busy server.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("the review gate waits only inside a flow run")
    flow_run_id = context.flow_run.id
    request = record.request
    if not opened_here:
        stored = await store.stored_decision(flow_run_id, request.id, sequence)
        if stored is not None:
            return stored
    form = review_form(record)  # the review as it stands, and why the last decision did not count
    key = wait_key(request.id, sequence)
    remaining = max((request.deadline - now).total_seconds(), 0.0)
    backstop = int(remaining + BACKSTOP_GRACE.total_seconds())
    if context.flow_run.deployment_id is not None:
        await asuspend_flow_run(wait_for_input=form, key=key, timeout=backstop)
    else:
        timer = asyncio.create_task(_expire_at_deadline(flow_run_id, request, remaining))
        try:
            # Prefect's pause, waited on by one state poll per process rather than one per run.
            await pause_in_process(flow_run_id, form, key, backstop)
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
    stored = await store.stored_decision(flow_run_id, request.id, sequence)
    if stored is None:
        raise ReviewGateError(
            f"review {request.id}: the run resumed without a stored decision; nothing commits"
        )
    return stored


async def _expire_at_deadline(flow_run_id: UUID, request: ReviewRequest, delay: float) -> None:
    """At the deadline, resume the paused run with `expired`; retry until it takes or the wait ends.

    The run cancels this task as soon as its pause returns. Until then no failure may end it: a
    busy or briefly unreachable server (503, a dropped connection) would otherwise leave the review
    open for ever, since nothing else keeps time for a run paused in-process.
    """
    await asyncio.sleep(delay)
    backoff = 0.5
    while True:
        try:
            accepted, _reason = await resume_with(flow_run_id, expired_decision(request))
            if accepted:
                return
        except httpx.HTTPError as exc:  # Prefect's own status errors are httpx's too
            _LOG.warning("Could not expire review %s yet (%s); retrying", request.id, type(exc).__name__)
        # Not accepted: the run is not paused yet (the deadline came early), or it is between two
        # decisions; either way the next try may take.
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 10.0)
