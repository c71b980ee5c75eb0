"""Slack settings from the environment: what the flow's channel and `review-gate serve` read.

    SLACK_BOT_TOKEN              the bot token (xoxb-...): posting, updating, group lookups
    SLACK_SIGNING_SECRET         verifies Slack's requests, and keys the gate's button tokens
    SLACK_APP_TOKEN              the app-level token (xapp-...), for `review-gate serve --socket-mode`
    REVIEW_GATE_SLACK_CHANNEL    where reviews are posted when the policy names no channel
    REVIEW_GATE_SLACK_API_URL    the Slack Web API base URL (default Slack's own); tests point it at a fake
    REVIEW_GATE_SLACK_SWEEP_SECONDS    how often the server looks for reminders and overdue reviews
    REVIEW_GATE_SLACK_RETRIES          retries of a failed Slack call (rate limit, connection, 5xx)
    REVIEW_GATE_SLACK_BACKOFF_SECONDS  first retry's wait; it doubles on each retry
    REVIEW_GATE_SLACK_QUEUE            the server's decision queue (SQLite file); default
                                       $PREFECT_HOME/review-gate/slack-decisions.sqlite
    REVIEW_GATE_SLACK_REDELIVER_MAX_SECONDS  longest wait between deliveries of a queued decision

Secrets are `SecretStr`: they print as `**********` and never reach logs or errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from prefect_review_gate.validators.errors import InputError

__all__ = [
    "API_URL_ENV",
    "APP_TOKEN_ENV",
    "BACKOFF_ENV",
    "BOT_TOKEN_ENV",
    "CHANNEL_ENV",
    "DEFAULT_API_URL",
    "QUEUE_ENV",
    "REDELIVER_ENV",
    "RETRIES_ENV",
    "SIGNING_SECRET_ENV",
    "SWEEP_ENV",
    "SlackSettings",
]

BOT_TOKEN_ENV = "SLACK_BOT_TOKEN"
SIGNING_SECRET_ENV = "SLACK_SIGNING_SECRET"
APP_TOKEN_ENV = "SLACK_APP_TOKEN"
CHANNEL_ENV = "REVIEW_GATE_SLACK_CHANNEL"
API_URL_ENV = "REVIEW_GATE_SLACK_API_URL"
SWEEP_ENV = "REVIEW_GATE_SLACK_SWEEP_SECONDS"
RETRIES_ENV = "REVIEW_GATE_SLACK_RETRIES"
BACKOFF_ENV = "REVIEW_GATE_SLACK_BACKOFF_SECONDS"
QUEUE_ENV = "REVIEW_GATE_SLACK_QUEUE"
REDELIVER_ENV = "REVIEW_GATE_SLACK_REDELIVER_MAX_SECONDS"
DEFAULT_API_URL = "https://slack.com/api/"


def _secret(value: str | None) -> SecretStr | None:
    value = (value or "").strip()
    return SecretStr(value) if value else None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{name} must be a number, not {text!r}") from None


class SlackSettings(BaseModel):
    """Everything the Slack side needs; built from the environment or a `SlackReviewCredentials` block."""

    model_config = ConfigDict(frozen=True)

    bot_token: SecretStr | None = Field(default=None, description="Bot token (xoxb-...).")
    signing_secret: SecretStr | None = Field(default=None, description="The Slack app's signing secret.")
    app_token: SecretStr | None = Field(default=None, description="App-level token (xapp-...), Socket Mode.")
    channel: str | None = Field(default=None, description="Default channel when the policy names none.")
    api_url: str = Field(default=DEFAULT_API_URL, description="Slack Web API base URL, ending with '/'.")
    sweep_seconds: float = Field(default=30.0, gt=0, description="Reminder and expiry sweep interval.")
    retries: int = Field(default=3, ge=0, le=10, description="Retries of a failed Slack call.")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First retry's wait; doubles each retry.")
    queue_path: Path | None = Field(
        default=None,
        description="The server's decision queue (SQLite file); default under $PREFECT_HOME/review-gate/.",
    )
    redeliver_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait between deliveries of a queued decision."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SlackSettings:
        """Read the settings from `environ` (default: the process environment)."""
        env = os.environ if environ is None else environ
        api_url = env.get(API_URL_ENV, "").strip() or DEFAULT_API_URL
        try:
            return cls(
                bot_token=_secret(env.get(BOT_TOKEN_ENV)),
                signing_secret=_secret(env.get(SIGNING_SECRET_ENV)),
                app_token=_secret(env.get(APP_TOKEN_ENV)),
                channel=env.get(CHANNEL_ENV, "").strip() or None,
                api_url=api_url if api_url.endswith("/") else api_url + "/",
                sweep_seconds=_number(env, SWEEP_ENV, 30.0),
                retries=int(_number(env, RETRIES_ENV, 3)),
                backoff_seconds=_number(env, BACKOFF_ENV, 0.5),
                queue_path=Path(env[QUEUE_ENV].strip()) if env.get(QUEUE_ENV, "").strip() else None,
                redeliver_max_seconds=_number(env, REDELIVER_ENV, 30.0),
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InputError(f"Slack setting {first['loc'][0]}: {first['msg']}") from None
