"""`SlackChannel`: the review as a Slack message with buttons, kept true until the review ends.

It runs inside the gated flow: `notify` posts the message (to the policy's channel, the default
channel, or as DMs to the listed reviewers), `update` rewrites it after each counted vote and after
the final outcome from any channel, `withdraw` takes it back when an edit replaces the content.
Where the messages are is kept on Prefect (see `locations`), so a run that re-runs after a suspend
still finds them; a review is never posted twice because that lookup failed or came back
incomplete. Every failure is `DeliveryFailed`: the gate logs it and the review stays open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from uuid import UUID

from slack_sdk.web.async_client import AsyncWebClient

from prefect_review_gate.gates.channels import ReviewChannel
from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.proofs import ProofClaims
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.slack.client import call_slack, web_client
from prefect_review_gate.gates.slack.directory import (
    SLACK_GROUP_QUALIFIER,
    SLACK_USER_QUALIFIER,
    ReviewerDirectory,
    group_members_of,
)
from prefect_review_gate.gates.slack.locations import (
    MessageLocation,
    PostedReview,
    forget_posted,
    load_posted,
    save_posted,
)
from prefect_review_gate.gates.slack.render import review_blocks, review_text, slack_escape
from prefect_review_gate.gates.slack.settings import SlackSettings
from prefect_review_gate.gates.slack.signing import decision_signer
from prefect_review_gate.gates.ui_links import flow_run_url as ui_flow_run_url
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["SlackChannel", "configured_slack_channel"]

FlowRunUrl = Callable[[UUID], str | None]


def _prefect_ui_url(flow_run_id: UUID) -> str | None:
    return ui_flow_run_url(flow_run_id)


class SlackChannel:
    """A `ReviewChannel` that posts reviews to Slack and keeps the messages up to date.

    It is also the `DecisionIntake` for Slack identities: the gate counts a `slack:` reviewer
    only when the Slack server signed the decision (`signing.decision_signer`).

    Args:
        client: a Slack `AsyncWebClient` (see `client.web_client` for one with retries).
        signing_secret: the Slack app's signing secret; keys the button tokens the server checks.
        channel: the channel id to post reviews to; without one, each
            listed Slack reviewer (and each member of a listed group) gets a DM.
        flow_run_url: link to a flow run in the Prefect UI (default: Prefect's UI URL setting).
    """

    name = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        signing_secret: str,
        channel: str | None = None,
        flow_run_url: FlowRunUrl = _prefect_ui_url,
    ) -> None:
        if not signing_secret:
            raise InputError("SlackChannel needs the Slack signing secret: it signs the review buttons")
        self.client = client
        self.default_channel = channel
        self._secret = signing_secret
        self._flow_run_url = flow_run_url
        self._directory = ReviewerDirectory(client)
        self._decisions = decision_signer(signing_secret)

    def vouches_for(self, qualifier: str) -> bool:
        """Slack verifies who clicked: `slack:` users, and `slack-group:` members as it checked them."""
        return qualifier in (SLACK_USER_QUALIFIER, SLACK_GROUP_QUALIFIER)

    def verifies(self, claims: ProofClaims, proof: str) -> bool:
        """True when the Slack server (which shares the signing secret) signed this decision."""
        return self._decisions.verify(claims, proof)

    @classmethod
    def from_settings(cls, settings: SlackSettings) -> SlackChannel:
        """A channel from `SlackSettings`. Raises `InputError` when the token or secret is missing."""
        if settings.bot_token is None:
            raise InputError(
                "Slack is not configured: set SLACK_BOT_TOKEN (or use a SlackReviewCredentials block)"
            )
        if settings.signing_secret is None:
            raise InputError(
                "SLACK_SIGNING_SECRET is needed with SLACK_BOT_TOKEN: review buttons are signed with it"
            )
        client = web_client(
            settings.bot_token.get_secret_value(),
            settings.api_url,
            retries=settings.retries,
            backoff_seconds=settings.backoff_seconds,
        )
        return cls(
            client, signing_secret=settings.signing_secret.get_secret_value(), channel=settings.channel
        )

    def render(self, record: ReviewRecord) -> tuple[str, list[dict[str, object]]]:
        """The message's fallback text and blocks for the record as it stands."""
        url = self._flow_run_url(record.request.flow_run_id)
        return review_text(record), review_blocks(record, signing_secret=self._secret, flow_run_url=url)

    async def notify(self, record: ReviewRecord) -> None:
        request = record.request
        targets = await self._targets(record)
        posting = PostedReview(review_id=request.id, round=request.round, complete=False)
        # Saved before the first post: should the locations be lost after it, `update` knows the
        # messages may exist and never posts them a second time.
        await self._remember(posting)
        await self._post(record, posting, targets)

    async def _post(self, record: ReviewRecord, posted: PostedReview, targets: list[str]) -> None:
        """Post to `targets`, then save where the messages are; then raise the first Slack failure."""
        text, blocks = self.render(record)
        locations = list(posted.messages)
        failure: DeliveryFailed | None = None
        unposted: list[str] = []
        for index, target in enumerate(targets):
            try:
                response = await call_slack(
                    "chat.postMessage",
                    self.client.chat_postMessage(
                        channel=target, text=text, blocks=blocks, unfurl_links=False
                    ),
                )
            except DeliveryFailed as exc:
                # Slack is down or refuses: the rest would fail the same way, after the same retries.
                failure, unposted = exc, targets[index:]
                break
            locations.append(MessageLocation(channel=str(response["channel"]), ts=str(response["ts"])))
        await self._remember(
            posted.model_copy(update={"messages": locations, "unposted": unposted, "complete": True})
        )
        if failure is not None:
            raise failure

    async def update(self, record: ReviewRecord) -> None:
        posted = await self._recall(record.request.id)
        if posted is None or posted.round != record.request.round:
            # Never posted (no destination could be opened when the review opened): post it now.
            await self.notify(record)
            return
        if not posted.complete:
            raise DeliveryFailed(
                f"review {record.request.id} was being posted when its process stopped or Prefect failed; "
                "where its messages are is unknown, so they are neither updated nor posted again"
            )
        text, blocks = self.render(record)
        for where in posted.messages:
            await call_slack(
                "chat.update",
                self.client.chat_update(channel=where.channel, ts=where.ts, text=text, blocks=blocks),
            )
        if posted.unposted:
            # Slack refused these when the review opened (down, rate limited): they get it as it stands.
            await self._post(record, posted, posted.unposted)

    async def withdraw(self, record: ReviewRecord) -> None:
        posted = await self._recall(record.request.id)
        if posted is None:
            return
        text = (
            f"Review {record.request.id}: withdrawn. {slack_escape(record.note)} "
            "The edited content is posted as a new review message."
        )
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
        for where in posted.messages:
            await call_slack(
                "chat.update",
                self.client.chat_update(channel=where.channel, ts=where.ts, text=text, blocks=blocks),
            )
        try:
            await forget_posted(posted)
        except Exception as exc:
            raise DeliveryFailed(
                f"could not forget the withdrawn Slack message: {type(exc).__name__}"
            ) from None

    async def _targets(self, record: ReviewRecord) -> list[str]:
        policy = record.request.policy
        if self.default_channel:
            return [self.default_channel]
        users: list[str] = []
        for reviewer in policy.reviewers:
            group = group_members_of(reviewer)
            if group is not None:
                users += sorted(await self._directory.members(group))
            elif reviewer.startswith("slack:"):
                users.append(reviewer.removeprefix("slack:"))
        users = [
            u
            for u in dict.fromkeys(users)
            if policy.allow_requester or f"slack:{u}" != record.request.requester
        ]
        if not users:
            raise DeliveryFailed(
                "no Slack destination: pass the channel to SlackChannel (or REVIEW_GATE_SLACK_CHANNEL), "
                "or list Slack reviewers (slack:U..., slack-group:S...)"
            )
        dms = []
        for user in users:
            opened = await call_slack("conversations.open", self.client.conversations_open(users=user))
            channel_info = opened.get("channel")
            if not isinstance(channel_info, Mapping) or "id" not in channel_info:
                raise DeliveryFailed("Slack conversations.open returned no channel")
            dms.append(str(channel_info["id"]))
        return dms

    async def _remember(self, posted: PostedReview) -> None:
        try:
            await save_posted(posted)
        except ReviewGateError:
            raise
        except Exception as exc:
            raise DeliveryFailed(
                f"could not store where the Slack messages are on Prefect ({type(exc).__name__}); "
                "they are not posted (again) without it"
            ) from None

    async def _recall(self, review_id: str) -> PostedReview | None:
        try:
            return await load_posted(review_id)
        except Exception as exc:
            raise DeliveryFailed(
                f"could not read where the Slack message is ({type(exc).__name__})"
            ) from None


def configured_slack_channel(
    environ: Mapping[str, str] | None = None, *, channel: str | None = None
) -> ReviewChannel | None:
    """The Slack channel the environment configures, or None when SLACK_BOT_TOKEN is unset.

    Reads SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, REVIEW_GATE_SLACK_CHANNEL and
    REVIEW_GATE_SLACK_API_URL; `channel` (a flow's own review channel) wins over
    REVIEW_GATE_SLACK_CHANNEL. No network: the first Slack call happens on `notify`.

    Raises:
        InputError: a bot token without a signing secret (the buttons could not be signed).
    """
    settings = SlackSettings.from_env(environ)
    if settings.bot_token is None:
        return None
    if channel:
        settings = settings.model_copy(update={"channel": channel})
    return SlackChannel.from_settings(settings)
