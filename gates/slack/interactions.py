"""What a click or a modal is, and what the server answers about it, after Bolt verified it.

A click that decides is kept in the `outbox` and delivered by `delivery`; everything else ends in
a reply only the clicker sees: not allowed, already decided, outdated, not this review's message.
Nothing here trusts the payload beyond what Slack signed and the gate's own button token; the
decision forwarded is signed (`signing.decision_signer`), which is what makes the gate believe the
Slack identity in it. Whether a decision counts is the decision rule's (`rules.refusal`), worded here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from prefect_review_gate.gates import reviews
from prefect_review_gate.gates.decision import Outcome
from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.proofs import DecisionSigner
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.rules import Ballot, RefusalCode, refusal
from prefect_review_gate.gates.slack.directory import ReviewerDirectory
from prefect_review_gate.gates.slack.locations import load_posted
from prefect_review_gate.gates.slack.render import ACTION_IDS, slack_escape
from prefect_review_gate.gates.slack.replies import Replies, ReplyTo
from prefect_review_gate.gates.slack.signing import ButtonAction, ButtonValue, verify_button
from prefect_review_gate.validators.errors import InputError

__all__ = [
    "REASON_BLOCK",
    "REASON_CALLBACK",
    "Click",
    "Interactions",
    "click_from_action",
    "click_from_view",
    "not_allowed",
    "reason_modal",
]

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
    message_ts: str | None = None  # the message the button was on, checked against the review's own
    response_url: str | None = None  # where to reply when the bot cannot post in `channel`

    @property
    def reply_to(self) -> ReplyTo:
        return ReplyTo(self.user, self.channel, self.response_url)

    @property
    def outcome(self) -> Outcome:
        return Outcome.REJECTED if self.value.action is ButtonAction.REJECT else Outcome.APPROVED


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
    message = body.get("message")
    message_ts = (_str(container.get("message_ts")) if isinstance(container, Mapping) else None) or (
        _str(message.get("ts")) if isinstance(message, Mapping) else None
    )
    signed = action.get("value")
    value = verify_button(secret, signed)
    action_id = action.get("action_id")
    if action_id is not None and action_id != ACTION_IDS[value.action]:
        raise InputError("the button's token is for another button")
    return Click(user_id, channel_id, value, str(signed), message_ts, _str(body.get("response_url")))


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
    # The modal's metadata is ours (views.open) and comes back inside Slack's signed request.
    where = {"channel_id": meta.get("channel"), "message_ts": meta.get("ts")}
    click = click_from_action(
        {"user": body.get("user"), "container": where, "response_url": meta.get("response_url")},
        action,
        secret,
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
        "private_metadata": json.dumps(
            {
                "value": click.signed,
                "channel": click.channel,
                "ts": click.message_ts,
                "response_url": click.response_url,
            }
        ),
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
    """The server's answers about clicks: who decides as whom, and why a click cannot count."""

    def __init__(
        self, client: AsyncWebClient, directory: ReviewerDirectory, signer: DecisionSigner, replies: Replies
    ) -> None:
        self.client = client
        self.directory = directory
        self.signer = signer
        self.replies = replies

    async def tell(self, click: Click, text: str) -> None:
        """A reply only the clicker sees; failures are logged, never raised."""
        await self.replies.tell(click.reply_to, text)

    async def refusal(self, click: Click) -> str:
        """Why `click` cannot decide, checked before its modal asks for a reason; '' when it may.

        Raises what the Prefect client raises when Prefect cannot be read.
        """
        try:
            record = await reviews.get_review(click.value.review_id)
        except InputError:
            return f"Review `{click.value.review_id}` no longer exists on Prefect."
        try:
            # The reason is not written yet: the modal asks for it, and the submission is checked again.
            problem, _, _ = await self.check(record, click, click.outcome, reason=_REASON_TO_COME)
        except DeliveryFailed as exc:
            return f"Could not check who may decide ({slack_escape(str(exc))}); nothing was decided."
        return problem or await self.foreign_message(click)

    async def foreign_message(self, click: Click) -> str:
        """Why the click did not come from a message the gate posted for its review; '' when it did.

        A signed button copied into another channel, or onto another message, carries a valid
        token but is not the review's own: refused, whoever clicks it.

        Raises `DeliveryFailed` when where the review's messages are cannot be read.
        """
        posted = await load_posted(click.value.review_id)
        here = (click.channel, click.message_ts)
        if posted is not None and any((m.channel, m.ts) == here for m in posted.messages):
            return ""
        return (
            f"This button is not on review `{click.value.review_id}`'s own message; nothing was decided. "
            "Decide on the message the review gate posted."
        )

    async def check(
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
        person, group = await self.directory.identity(click.user, record.request)
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
            return not_allowed(record, str(problem)), person, group
        return f"Review `{record.request.id}`: {slack_escape(str(problem))}.", person, group


def _quorum(record: ReviewRecord) -> str:
    needed = record.request.policy.approvals_required
    return f"{len(record.approvals)}/{needed} approvals so far."


def not_allowed(record: ReviewRecord, why: str) -> str:
    return (
        f"You are not allowed to decide review `{record.request.id}`: {slack_escape(why)}. "
        "It keeps waiting for its reviewers."
    )
