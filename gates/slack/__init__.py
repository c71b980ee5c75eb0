"""Slack approvals: review messages with buttons, and the verified server that turns clicks into decisions.

    configured_slack_channel()   the flow side: a `SlackChannel` from the environment, or None
    SlackChannel                 posts, updates and withdraws review messages (a `ReviewChannel`)
    SlackReviewCredentials       the Prefect Block holding the bot token and signing secret
    SlackSettings                the same settings read from the environment
    create_app                   the Bolt app behind `review-gate serve`

Names are imported on first use (PEP 562): importing this package loads neither slack_sdk, Bolt,
aiohttp nor Prefect, and touches no network.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_review_gate.gates.slack.app import ReviewApp, create_app
    from prefect_review_gate.gates.slack.block import SlackReviewCredentials
    from prefect_review_gate.gates.slack.channel import SlackChannel, configured_slack_channel
    from prefect_review_gate.gates.slack.settings import SlackSettings

_HOMES = {
    "ReviewApp": "prefect_review_gate.gates.slack.app",
    "SlackChannel": "prefect_review_gate.gates.slack.channel",
    "SlackReviewCredentials": "prefect_review_gate.gates.slack.block",
    "SlackSettings": "prefect_review_gate.gates.slack.settings",
    "configured_slack_channel": "prefect_review_gate.gates.slack.channel",
    "create_app": "prefect_review_gate.gates.slack.app",
}

__all__ = [
    "ReviewApp",
    "SlackChannel",
    "SlackReviewCredentials",
    "SlackSettings",
    "configured_slack_channel",
    "create_app",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
