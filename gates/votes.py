"""`Vote`: one reviewer's answer as recorded, and the enums it is made of. Prefect-free.

`ReviewDecision` (decision.py) is the same model as a Prefect `RunInput`, which is what a paused run
accepts. Records, the CLI's listings and the Slack server only read votes, so they use this model
and start without importing Prefect (about two seconds of a `review-gate pending`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Channel", "Outcome", "Vote"]


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Channel(StrEnum):
    """Where a decision came from."""

    UI = "ui"
    CLI = "cli"
    SLACK = "slack"
    GATE = "gate"  # the gate itself: its deadline, or a policy that rejects without asking


class Vote(BaseModel):
    """One reviewer's answer to one review."""

    outcome: Outcome = Field(description="approved, rejected or expired.")
    reviewer: str = Field(min_length=1, description="Who decides: your name, as the policy lists it.")
    comment: str = Field(default="", description="Why; required in spirit for a rejection.")
    override_reason: str = Field(
        default="", description="Required to approve despite blocking findings: why they are acceptable."
    )
    content_hash: str = Field(description="The content this decision is made on (pre-filled; leave as is).")
    channel: Channel = Field(default=Channel.UI, description="Where the decision was made.")
    decided_at: datetime | None = Field(default=None, description="When; filled in by the gate if empty.")
    edited_actions: list[dict[str, Any]] | None = Field(
        default=None,
        description="Optional: the actions as you want them instead (JSON); they are validated again.",
    )
