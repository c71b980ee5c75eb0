"""`ReviewDecision`: one reviewer's answer, the same whichever channel it came through.

It is a Prefect `RunInput`, so the Prefect UI renders it as the resume form of the paused run and the
server validates every resume (UI, CLI, Slack, REST) against its schema. `outcome` and `reviewer`
stay required: an empty "Resume" in the UI is refused and the run keeps waiting.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from prefect_review_gate.gates.actions import Action

__all__ = ["Channel", "Outcome", "ReviewDecision", "ReviewVerdict"]


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


class ReviewDecision(RunInput):
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


class ReviewVerdict(BaseModel):
    """What a review ended with: the outcome, the content it binds to, and every vote that counted."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    review_id: str
    outcome: Outcome
    content_hash: str
    actions: list[SerializeAsAny[Action]] = Field(
        description="The content decided on (edited content when it was edited)."
    )
    votes: list[ReviewDecision] = Field(default_factory=list)
    reason: str = ""

    @property
    def approvers(self) -> list[str]:
        return [v.reviewer for v in self.votes if v.outcome is Outcome.APPROVED]
