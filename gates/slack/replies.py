"""Replies only the clicker sees: an ephemeral message, or the click's `response_url` where that fails.

`chat.postEphemeral` needs the bot in the channel; a review message shared elsewhere, a private
channel the bot left, or a DM it cannot write to answers `not_in_channel` / `channel_not_found`.
Slack's `response_url` (in every button payload, valid 30 minutes, 5 uses) reaches the clicker
there. Without a channel either, the reply is a DM from the bot. A reply that cannot be sent is
logged, never raised: the decision it is about is already kept (`outbox`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.slack.client import SlackCallFailed, call_slack

__all__ = ["Replies", "ReplyTo"]

_LOG = logging.getLogger("prefect_review_gate.slack")
_NO_ACCESS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
_SLACK_HOOKS = "https://hooks.slack.com/"


@dataclass(frozen=True)
class ReplyTo:
    user: str
    channel: str | None = None
    response_url: str | None = None


class Replies:
    """Tells one Slack user something, by the first way that reaches them."""

    def __init__(self, client: AsyncWebClient, api_url: str) -> None:
        self.client = client
        parts = urlsplit(api_url)
        # Only Slack's own hooks (or the configured API's host, i.e. a test fake) get a POST from us:
        # the URL comes in a signed payload, but a server that posts wherever it is told is an SSRF.
        self._own_origin = f"{parts.scheme}://{parts.netloc}/"

    def _usable(self, url: str | None) -> bool:
        return bool(url) and (str(url).startswith(_SLACK_HOOKS) or str(url).startswith(self._own_origin))

    async def tell(self, to: ReplyTo, text: str) -> None:
        try:
            await self._tell(to, text)
        except DeliveryFailed as exc:
            _LOG.warning("Could not reply to a Slack user: %s", exc)

    async def _tell(self, to: ReplyTo, text: str) -> None:
        if to.channel:
            try:
                await call_slack(
                    "chat.postEphemeral",
                    self.client.chat_postEphemeral(channel=to.channel, user=to.user, text=text),
                )
                return
            except SlackCallFailed as exc:
                if exc.code not in _NO_ACCESS or not self._usable(to.response_url):
                    raise
        if to.response_url and self._usable(to.response_url):
            await self._respond(to.response_url, text)
            return
        await call_slack("chat.postMessage", self.client.chat_postMessage(channel=to.user, text=text))

    async def _respond(self, url: str, text: str) -> None:
        hook = AsyncWebhookClient(url, session=self.client.session, timeout=10)
        try:
            response = await hook.send(text=text, response_type="ephemeral", replace_original=False)
        except Exception as exc:
            raise DeliveryFailed(f"Slack response_url failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise DeliveryFailed(f"Slack response_url failed: HTTP {response.status_code}")
