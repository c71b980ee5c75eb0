"""The Bolt app behind `review-gate serve`: verified requests in, acknowledged at once, decided after.

Bolt verifies every request with the signing secret (stale timestamps refused) before any listener
runs. A global middleware then checks the gate's own button token and answers 400 to a payload
whose button or modal the gate did not sign: nothing is resumed. A click that decides is written
to the server's `outbox` before the ack (so an acknowledged click is never lost), and delivered
after it (`delivery`). Other listeners ack first (Slack's 3 seconds) and hand the Prefect and
Slack work to a task that runs after the ack; with that,
`process_before_response=True` returns the ack as soon as the listener returns, instead of
Bolt polling every 10 ms for it (which, under a burst of clicks, cost more than the acks).
A custom `authorize` hands Bolt the bot token, so Bolt never calls `auth.test`. Bolt's logger is
quiet and keeps payloads out of the logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from prefect_review_gate.gates.decision import Outcome
from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.slack.client import web_client
from prefect_review_gate.gates.slack.delivery import Deliveries, new_entry, prefect_unreachable
from prefect_review_gate.gates.slack.directory import ReviewerDirectory
from prefect_review_gate.gates.slack.interactions import (
    REASON_BLOCK,
    REASON_CALLBACK,
    Click,
    Interactions,
    click_from_action,
    click_from_view,
    reason_modal,
)
from prefect_review_gate.gates.slack.outbox import Added, EntryState, Outbox
from prefect_review_gate.gates.slack.render import ACTION_IDS
from prefect_review_gate.gates.slack.replies import Replies
from prefect_review_gate.gates.slack.settings import SlackSettings
from prefect_review_gate.gates.slack.signing import ButtonAction, decision_signer
from prefect_review_gate.validators.errors import InputError

__all__ = ["ReviewApp", "create_app", "default_queue_path"]

_LOG = logging.getLogger("prefect_review_gate.slack")
_PRECHECK_SECONDS = 1.5  # leaves time to open the modal before its trigger_id expires (3 s)
_OURS = set(ACTION_IDS.values())
_AFTER_ACK_CONCURRENCY = 4


def default_queue_path() -> Path:
    """`$PREFECT_HOME/review-gate/slack-decisions.sqlite`: beside Prefect's own local state."""
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()) / "review-gate" / "slack-decisions.sqlite"


class _NoPayloads(logging.Filter):
    """Bolt logs request bodies in places; keep the first line of a message, and drop bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "body" in message.lower() or "payload" in message.lower():
            return False
        record.msg, record.args = message.splitlines()[0][:200] if message else "", None
        record.exc_info = record.exc_text = None
        return True


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("prefect_review_gate.slack.bolt")
    logger.setLevel(logging.ERROR)  # its warnings are about configuration this module sets on purpose
    if not any(isinstance(f, _NoPayloads) for f in logger.filters):
        logger.addFilter(_NoPayloads())
    return logger


class ReviewApp:
    """The Bolt `AsyncApp` with the review gate's listeners, and what they need."""

    def __init__(self, settings: SlackSettings, *, client: AsyncWebClient | None = None) -> None:
        if settings.signing_secret is None:
            raise InputError("SLACK_SIGNING_SECRET is not set: the server cannot verify Slack's requests")
        if settings.bot_token is None:
            raise InputError("SLACK_BOT_TOKEN is not set: the server cannot answer or open modals in Slack")
        self._secret = settings.signing_secret.get_secret_value()
        token = settings.bot_token.get_secret_value()
        self.client = client or web_client(
            token, settings.api_url, retries=settings.retries, backoff_seconds=settings.backoff_seconds
        )
        self.interactions = Interactions(
            self.client,
            ReviewerDirectory(self.client),
            decision_signer(self._secret),
            Replies(self.client, settings.api_url),
        )
        self.outbox = Outbox(settings.queue_path or default_queue_path())
        self.deliveries = Deliveries(
            self.outbox, self.interactions, self._secret, max_backoff_seconds=settings.redeliver_max_seconds
        )
        self._tasks: set[asyncio.Task[None]] = set()
        # Work after the ack waits its turn: a burst of clicks must not starve the acks themselves.
        self._slots = asyncio.Semaphore(_AFTER_ACK_CONCURRENCY)

        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

        self.app = AsyncApp(
            signing_secret=self._secret,
            authorize=authorize,
            client=web_client("", settings.api_url),
            logger=_bolt_logger(),
            ssl_check_enabled=True,
            url_verification_enabled=False,
            process_before_response=True,
        )
        self.app.middleware(self._check_tokens)
        self.app.action(ACTION_IDS[ButtonAction.APPROVE])(self._on_approve)
        self.app.action(ACTION_IDS[ButtonAction.REJECT])(self._on_reason_button)
        self.app.action(ACTION_IDS[ButtonAction.OVERRIDE])(self._on_reason_button)
        self.app.view(REASON_CALLBACK)(self._on_reason_submitted)

    async def _check_tokens(
        self, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Refuse (400) a click or modal that carries no button token the gate signed."""
        try:
            if body.get("type") == "block_actions":
                for action in body.get("actions") or []:
                    if isinstance(action, dict) and action.get("action_id") in _OURS:
                        click_from_action(body, action, self._secret)
            elif body.get("type") == "view_submission":
                view = body.get("view")
                if isinstance(view, dict) and view.get("callback_id") == REASON_CALLBACK:
                    click_from_view(body, self._secret)
        except InputError as exc:
            _LOG.warning("Refused a Slack interaction: %s", exc)
            return BoltResponse(status=400, body=f"refused: {exc}")
        await next()
        return None

    def _after_ack(self, work: Awaitable[None]) -> None:
        """Run the slow part after Slack has its ack; keep a reference so the task is not collected."""

        async def guarded() -> None:
            try:
                async with self._slots:
                    await work
            except Exception as exc:  # a listener's failure must not log the payload, nor kill the server
                _LOG.error("Slack interaction failed after the ack: %s: %s", type(exc).__name__, exc)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for replies and deliveries under way (a graceful shutdown, or a test)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.deliveries.drain()

    async def _keep(self, click: Click, outcome: Outcome, reason: str = "") -> Added:
        """Write the decision to the outbox before Slack gets its ack; deliver it after."""
        added = await self.outbox.add(new_entry(click, outcome, reason))
        if added.is_new:
            self.deliveries.kick()
        return added

    async def _answer_repeat(self, click: Click, added: Added) -> None:
        """The same person clicked again on the same content: their first click stands."""
        entry = added.entry
        verb = "rejection" if entry.outcome == Outcome.REJECTED.value else "approval"
        review_id = click.value.review_id
        if entry.state is EntryState.PENDING:
            await self.interactions.tell(
                click,
                f"Your {verb} of review `{review_id}` is already on its way (kept on the review-gate "
                "server); this click changes nothing.",
            )
            return
        try:
            text = await self.interactions.refusal(click)
        except Exception as exc:
            if not prefect_unreachable(exc):
                raise
            text = ""
        repeat = f"Your {verb} of review `{review_id}` already reached its run; this click changes nothing."
        await self.interactions.tell(click, text or repeat)

    def _click(self, body: dict[str, Any]) -> Click:
        [action] = [a for a in body.get("actions") or [] if a.get("action_id") in _OURS][:1]
        return click_from_action(body, action, self._secret)

    async def _on_approve(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        click = self._click(body)
        added = await self._keep(click, Outcome.APPROVED)
        await ack()
        if not added.is_new:
            self._after_ack(self._answer_repeat(click, added))

    async def _on_reason_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = self._click(body)
        trigger = body.get("trigger_id")
        self._after_ack(self._open_modal(click, str(trigger or "")))

    async def _open_modal(self, click: Click, trigger_id: str) -> None:
        try:
            problem = await asyncio.wait_for(self.interactions.refusal(click), _PRECHECK_SECONDS)
        except Exception as exc:
            if not (isinstance(exc, TimeoutError) or prefect_unreachable(exc)):
                raise
            problem = ""  # decided again on submission; better a modal than a silent click
        if problem:
            await self.interactions.tell(click, problem)
            return
        try:
            await self.client.views_open(trigger_id=trigger_id, view=reason_modal(click))
        except Exception as exc:
            raise DeliveryFailed(f"Slack views.open failed: {type(exc).__name__}") from None

    async def _on_reason_submitted(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        click, reason = click_from_view(body, self._secret)
        if len(reason.strip()) < 3:
            await ack(response_action="errors", errors={REASON_BLOCK: "Write a reason: it is recorded."})
            return
        added = await self._keep(click, click.outcome, reason.strip())
        await ack()
        if not added.is_new:
            self._after_ack(self._answer_repeat(click, added))


def create_app(settings: SlackSettings, *, client: AsyncWebClient | None = None) -> ReviewApp:
    """The review gate's Bolt app. Raises `InputError` without a signing secret or bot token."""
    return ReviewApp(settings, client=client)
