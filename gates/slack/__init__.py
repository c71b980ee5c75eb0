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

from typing import TYPE_CHECKING

from prefect_review_gate.gates.lazy import lazy_exports

if TYPE_CHECKING:
    from prefect_review_gate.gates.slack.app import ReviewApp as ReviewApp, create_app as create_app
    from prefect_review_gate.gates.slack.block import SlackReviewCredentials as SlackReviewCredentials
    from prefect_review_gate.gates.slack.channel import (
        SlackChannel as SlackChannel,
        configured_slack_channel as configured_slack_channel,
    )
    from prefect_review_gate.gates.slack.settings import SlackSettings as SlackSettings

_HOMES = {
    "prefect_review_gate.gates.slack.app": ["ReviewApp", "create_app"],
    "prefect_review_gate.gates.slack.block": ["SlackReviewCredentials"],
    "prefect_review_gate.gates.slack.channel": ["SlackChannel", "configured_slack_channel"],
    "prefect_review_gate.gates.slack.settings": ["SlackSettings"],
}

__all__, __getattr__ = lazy_exports(__name__, _HOMES, globals())
