"""What the server does with a click or a modal, after Bolt verified and acknowledged it.

Every path ends in `reviews.decide` (which the gate inside the run checks again) or in an
ephemeral reply to the person who clicked: not allowed, already decided, outdated, sent. Nothing
here trusts the payload beyond what Slack signed and the gate's own button token; the decision it
forwards is signed (`signing.decision_signer`), which is what makes the gate believe the Slack
identity in it. Whether a decision counts is the decision rule's (`rules.refusal`), worded here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from prefect_review_gate.gates import reviews
from prefect_review_gate.gates.decision import Outcome
from prefect_review_gate.gates.errors import DeliveryFailed, UnauthorizedReviewer
from prefect_review_gate.gates.proofs import DecisionSigner
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.rules import Ballot, RefusalCode, refusal
from prefect_review_gate.gates.slack.client import call_slack
from prefect_review_gate.gates.slack.directory import ReviewerDirectory
from prefect_review_gate.gates.slack.render import ACTION_IDS, slack_escape
from prefect_review_gate.gates.slack.signing import ButtonAction, ButtonValue, verify_button
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["REASON_BLOCK", "REASON_CALLBACK", "Click", "Interactions", "reason_modal"]

REASON_CALLBACK = "review_gate_reason"
REASON_BLOCK = "reason"
_REASON_TO_COME = "(to be written in the modal)"
_LOG = logging.getLogger("prefect_review_gate.slack")


@dataclass(frozen=True)
class Click:
    """One person's click on one signed button (or the modal it opened)."""

    user: str
    channel: str | None
    value: ButtonValue
    signed: str  # the signed value as sent, carried into a modal


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def click_from_action(body: Mapping[str, Any], action: Mapping[str, Any], secret: str) -> Click:
    """Raises `InputError` for a payload without a user or with a button the gate did not sign."""
    user = body.get("user")
    user_id = _str(user.get("id")) if isinstance(user, Mapping) else None
    if user_id is None:
        raise InputError("the interaction names no user")
    container = body.get("container")
    channel = body.get("channel")
    channel_id = (_str(container.get("channel_id")) if isinstance(container, Mapping) else None) or (
        _str(channel.get("id")) if isinstance(channel, Mapping) else None
    )
    signed = action.get("value")
    value = verify_button(secret, signed)
    action_id = action.get("action_id")
    if action_id is not None and action_id != ACTION_IDS[value.action]:
        raise InputError("the button's token is for another button")
    return Click(user_id, channel_id, value, str(signed))


def click_from_view(body: Mapping[str, Any], secret: str) -> tuple[Click, str]:
    """The click a modal was opened for, and the reason written in it. Raises `InputError`."""
    view = body.get("view")
    if not isinstance(view, Mapping):
        raise InputError("the submission carries no view")
    try:
        meta = json.loads(str(view.get("private_metadata") or ""))
        state = view["state"]["values"][REASON_BLOCK][REASON_BLOCK]
    except (ValueError, KeyError, TypeError):
        raise InputError("the submission is not a review-gate modal") from None
    if not isinstance(meta, Mapping) or not isinstance(state, Mapping):
        raise InputError("the submission is not a review-gate modal")
    action = {"value": meta.get("value")}
    click = click_from_action(
        {"user": body.get("user"), "channel": {"id": meta.get("channel")}}, action, secret
    )
    if click.value.action not in (ButtonAction.REJECT, ButtonAction.OVERRIDE):
        raise InputError("only Reject and Approve-with-override ask for a reason")
    return click, str(state.get("value") or "")


def reason_modal(click: Click) -> dict[str, Any]:
    """The modal that asks for a rejection reason, or for the override reason of an approval."""
    override = click.value.action is ButtonAction.OVERRIDE
    title = "Approve anyway" if override else "Reject review"
    prompt = (
        "This review has blocking findings. Why is it right to approve it anyway? "
        "Your reason is recorded with the decision."
        if override
        else "Why reject? The requester reads this; nothing is committed."
    )
    return {
        "type": "modal",
        "callback_id": REASON_CALLBACK,
        "private_metadata": json.dumps({"value": click.signed, "channel": click.channel}),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Approve" if override else "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"Review `{click.value.review_id}`. {prompt}"},
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Override reason" if override else "Reason"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_BLOCK,
                    "multiline": True,
                    "min_length": 3,
                    "max_length": 2000,
                },
            },
        ],
    }


class Interactions:
    """The server's answers to clicks: decide through the Prefect API, or say why not."""

    def __init__(
        self,
        client: AsyncWebClient,
        directory: ReviewerDirectory,
        signer: DecisionSigner,
        *,
        retry_seconds: float = 20.0,
        poll_seconds: float = 0.25,
    ) -> None:
        self.client = client
        self.directory = directory
        self.signer = signer
        self._retry_seconds = retry_seconds
        # A few resumes at a time: more make a SQLite-backed Prefect server answer "database is
        # locked" (resume_with retries those quickly); one at a time queues a burst of clicks.
        self._resuming = asyncio.Semaphore(4)
        self._poll = poll_seconds

    async def tell(self, click: Click, text: str) -> None:
        """An ephemeral reply only the clicker sees; failures are logged, never raised."""
        try:
            if click.channel:
                await call_slack(
                    "chat.postEphemeral",
                    self.client.chat_postEphemeral(channel=click.channel, user=click.user, text=text),
                )
            else:
                await call_slack(
                    "chat.postMessage", self.client.chat_postMessage(channel=click.user, text=text)
                )
        except DeliveryFailed as exc:
            _LOG.warning("Could not reply to a Slack user: %s", exc)

    async def refusal(self, click: Click) -> str:
        """Why `click` cannot decide, checked before its modal asks for a reason; '' when it may."""
        try:
            record = await reviews.get_review(click.value.review_id)
        except InputError:
            return f"Review `{click.value.review_id}` no longer exists on Prefect."
        outcome = Outcome.REJECTED if click.value.action is ButtonAction.REJECT else Outcome.APPROVED
        try:
            # The reason is not written yet: the modal asks for it, and the submission is checked again.
            problem, _, _ = await self._check(record, click, outcome, reason=_REASON_TO_COME)
        except DeliveryFailed as exc:
            return f"Could not check who may decide ({slack_escape(str(exc))}); nothing was decided."
        return problem

    async def _check(
        self, record: ReviewRecord, click: Click, outcome: Outcome, reason: str
    ) -> tuple[str, str, str]:
        """(why the click cannot count or '', the person, the listed group) by the decision rule.

        Raises `DeliveryFailed` when Slack cannot say who is in a listed group.
        """
        if record.is_open and record.request.content_hash != click.value.content_hash:
            return (
                "This message shows content that was since edited; decide on the newer review message.",
                "",
                "",
            )
        try:
            person, group = await self.directory.identity(click.user, record.request)
        except UnauthorizedReviewer as exc:
            return _not_allowed(record, str(exc)), "", ""
        ballot = Ballot(
            outcome=outcome,
            reviewer=person,
            member_of=group,
            content_hash=click.value.content_hash,
            override_reason=reason if click.value.action is ButtonAction.OVERRIDE else "",
            verified_by=self.signer.channel,
        )
        problem = refusal(record, ballot, datetime.now(UTC))
        if problem is None:
            return "", person, group
        if problem.code is RefusalCode.CLOSED:
            text = f"Review `{record.request.id}` is already decided: *{record.status.value}*. "
            return text + slack_escape(record.note), person, group
        if problem.code is RefusalCode.ALREADY_VOTED:
            return f"You already approved review `{record.request.id}`. {_quorum(record)}", person, group
        if problem.code in (RefusalCode.NOT_A_REVIEWER, RefusalCode.REQUESTER, RefusalCode.UNVERIFIED):
            return _not_allowed(record, str(problem)), person, group
        return f"Review `{record.request.id}`: {slack_escape(str(problem))}.", person, group

    async def decide(self, click: Click, outcome: Outcome, reason: str = "") -> None:
        """Send the clicker's decision to the waiting run, retrying while the run is between votes."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._retry_seconds
        override = click.value.action is ButtonAction.OVERRIDE
        while True:
            try:
                record = await reviews.get_review(click.value.review_id)
            except InputError:
                await self.tell(click, f"Review `{click.value.review_id}` no longer exists on Prefect.")
                return
            try:
                problem, person, group = await self._check(record, click, outcome, reason)
            except DeliveryFailed as exc:
                await self.tell(click, f"Could not check who may decide ({exc}); nothing was decided.")
                return
            if problem:
                await self.tell(click, problem)
                return
            try:
                async with self._resuming:
                    await reviews.decide(
                        record.request.id,
                        outcome,
                        person,
                        member_of=group,
                        signer=self.signer,
                        comment="" if override else reason,
                        override_reason=reason if override else "",
                    )
            except UnauthorizedReviewer as exc:
                await self.tell(click, _not_allowed(record, str(exc)))
                return
            except InputError as exc:
                await self.tell(click, slack_escape(str(exc)))
                return
            except ReviewGateError:
                # Closed meanwhile (the next pass says so) or the run is counting another vote.
                if loop.time() >= give_up:
                    await self.tell(
                        click, "The run is not waiting for a decision right now; try again shortly."
                    )
                    return
                await asyncio.sleep(self._poll)
                continue
            verb = "rejection" if outcome is Outcome.REJECTED else "approval"
            await self.tell(
                click,
                f"Your {verb} of review `{record.request.id}` was sent; the message updates once it counts.",
            )
            return


def _quorum(record: ReviewRecord) -> str:
    needed = record.request.policy.approvals_required
    return f"{len(record.approvals)}/{needed} approvals so far."


def _not_allowed(record: ReviewRecord, why: str) -> str:
    return (
        f"You are not allowed to decide review `{record.request.id}`: {slack_escape(why)}. "
        "It keeps waiting for its reviewers."
    )
