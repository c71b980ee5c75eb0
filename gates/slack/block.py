"""`SlackReviewCredentials`: the Slack side of the review gate as a Prefect Block.

prefect-slack's `SlackCredentials` holds only a bot token; the gate also needs the signing secret
(it verifies Slack's requests and keys the button tokens) and, for Socket Mode, the app token.
So this block holds all three, as `SecretStr`, with the channel and API URL beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from prefect_review_gate.gates.slack.settings import DEFAULT_API_URL, SlackSettings

if TYPE_CHECKING:
    from prefect_review_gate.gates.slack.channel import SlackChannel

__all__ = ["SlackReviewCredentials"]


class SlackReviewCredentials(Block):
    """Slack credentials and defaults for prefect-review-gate's Slack approvals."""

    _block_type_name = "Slack Review Credentials"
    _block_type_slug = "slack-review-credentials"
    _description = "Bot token, signing secret and default channel for review-gate's Slack approvals."

    bot_token: SecretStr = Field(
        description="The bot token (xoxb-...); scopes chat:write, im:write, usergroups:read, users:read."
    )
    signing_secret: SecretStr = Field(
        description="The Slack app's signing secret (Basic Information > App Credentials)."
    )
    app_token: SecretStr | None = Field(
        default=None, description="App-level token (xapp-...), needed only for Socket Mode."
    )
    channel: str | None = Field(
        default=None, description="Channel id to post reviews to when a policy names none."
    )
    api_url: str = Field(
        default=DEFAULT_API_URL, description="Slack Web API base URL; change only to point at a test fake."
    )

    def settings(self) -> SlackSettings:
        """These credentials as `SlackSettings`, for `SlackChannel.from_settings` and the server."""
        return SlackSettings(
            bot_token=self.bot_token,
            signing_secret=self.signing_secret,
            app_token=self.app_token,
            channel=self.channel,
            api_url=self.api_url if self.api_url.endswith("/") else self.api_url + "/",
        )

    def get_channel(self) -> SlackChannel:
        """A ready `SlackChannel` from this block."""
        from prefect_review_gate.gates.slack.channel import SlackChannel

        return SlackChannel.from_settings(self.settings())
