"""The server's background sweep: reminders before the deadline, and expiry after it.

At 75% of a review's time a reminder goes to the message's thread, mentioning the policy's
escalation contacts; past the deadline, waiting runs are resumed with an `expired` decision
(`reviews.expire_overdue`), which suspended runs need since no process of theirs keeps time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from slack_sdk.web.async_client import AsyncWebClient

from prefect_review_gate.gates import reviews
from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.request import ReviewRequest
from prefect_review_gate.gates.slack.client import call_slack
from prefect_review_gate.gates.slack.locations import load_posted, save_posted
from prefect_review_gate.gates.slack.render import mention

__all__ = ["REMIND_AT", "reminder_text", "sweep_forever", "sweep_once"]

REMIND_AT = 0.75  # of the review's time, when the reminder goes out
_LOG = logging.getLogger("prefect_review_gate.slack")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def reminder_text(request: ReviewRequest) -> str:
    policy = request.policy
    when = f"<!date^{int(request.deadline.timestamp())}^{{time}}|{request.deadline:%H:%M} UTC>"
    text = (
        f"Reminder: review `{request.id}` is still waiting for a decision; it expires {when} "
        "and then commits nothing."
    )
    if policy.escalation:
        text += " Escalating to " + ", ".join(mention(who) for who in policy.escalation) + "."
    return text


def _reminder_due(request: ReviewRequest, now: datetime) -> bool:
    span = (request.deadline - request.created_at).total_seconds()
    return request.created_at.timestamp() + REMIND_AT * span <= now.timestamp() < request.deadline.timestamp()


async def sweep_once(client: AsyncWebClient, now: datetime | None = None) -> tuple[list[str], list[str]]:
    """One pass. Returns (ids reminded, ids expired)."""
    now = now or _utc_now()
    reminded = []
    for pending in await reviews.list_pending():
        request = pending.record.request
        if not _reminder_due(request, now):
            continue
        posted = await load_posted(request.id)
        if posted is None or posted.reminded or not posted.messages:
            continue
        try:
            for where in posted.messages:
                await call_slack(
                    "chat.postMessage",
                    client.chat_postMessage(
                        channel=where.channel, thread_ts=where.ts, text=reminder_text(request)
                    ),
                )
        except DeliveryFailed as exc:
            _LOG.warning("Reminder for review %s not sent: %s", request.id, exc)
            continue
        await save_posted(posted.model_copy(update={"reminded": True}))
        reminded.append(request.id)
    expired = await reviews.expire_overdue(now)
    return reminded, expired


async def sweep_forever(
    client: AsyncWebClient, interval_seconds: float, clock: Callable[[], datetime] = _utc_now
) -> None:
    """Sweep every `interval_seconds` until cancelled; a failed pass is logged and retried."""
    while True:
        try:
            await sweep_once(client, clock())
        except Exception as exc:  # the server keeps answering clicks whatever the sweep meets
            _LOG.warning("Review sweep failed: %s: %s", type(exc).__name__, exc)
        await asyncio.sleep(interval_seconds)
