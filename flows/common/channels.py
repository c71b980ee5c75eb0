"""Where an agent flow's reviews are announced besides the Prefect UI and the CLI."""

from __future__ import annotations

import importlib
from typing import cast

from prefect_review_gate.gates import ReviewChannel

__all__ = ["review_channels"]


def review_channels() -> list[ReviewChannel]:
    """Slack when it is configured (and installed); the Prefect UI and the CLI need no channel."""
    # Imported by name: a flow must run, and be reviewable in the UI and the CLI, without Slack.
    try:
        slack = importlib.import_module("prefect_review_gate.gates.slack")
        configured = slack.configured_slack_channel
    except (ImportError, AttributeError):
        return []
    channel = configured()
    return [] if channel is None else [cast(ReviewChannel, channel)]
