"""`ReviewPolicy`: who may decide, how many must approve, how long they have, what blocking findings do."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prefect_review_gate.gates.identity import normalize_identity

__all__ = ["OnBlocking", "ReviewPolicy"]


class OnBlocking(StrEnum):
    """What blocking findings do to a review."""

    REQUIRE_OVERRIDE = "require_override"  # reviewers see them; approving needs a written reason
    REJECT = "reject"  # the review ends rejected without asking anyone


class ReviewPolicy(BaseModel):
    """The rules one review is decided by.

    Reviewer identities are asserted names for the Prefect UI and CLI (`alice`), which prove only
    access to the Prefect API, and channel-qualified ids that count only when their channel vouches
    for who acted (`slack:U024BE7LH`, `slack-group:S0614TZR7`): see `identity`. Whether a decision
    counts is `rules.refusal`'s to say, nowhere else.
    """

    # A misspelt or retired knob (e.g. the old `slack_channel`) is an error, never silently ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")

    reviewers: list[str] = Field(min_length=1, description="Identities allowed to decide.")
    approvals_required: int = Field(default=1, ge=1, description="Distinct approvals needed (M of N).")
    allow_requester: bool = Field(
        default=False, description="Whether the requester may decide its own request."
    )
    timeout: timedelta = Field(default=timedelta(hours=4), description="How long reviewers have to decide.")
    on_blocking: OnBlocking = Field(
        default=OnBlocking.REQUIRE_OVERRIDE, description="What blocking findings do to the review."
    )
    escalation: list[str] = Field(
        default_factory=list, description="Who is mentioned when the deadline nears."
    )

    @field_validator("reviewers", "escalation")
    @classmethod
    def _normalized(cls, identities: list[str]) -> list[str]:
        normalized = [normalize_identity(i) for i in identities]
        if any(not i for i in normalized):
            raise ValueError("an identity must not be empty")
        return normalized

    @model_validator(mode="after")
    def _quorum_is_reachable(self) -> Self:
        if self.approvals_required > len(set(self.reviewers)):
            raise ValueError(
                f"approvals_required={self.approvals_required} but only {len(set(self.reviewers))} reviewers"
            )
        if self.timeout <= timedelta(0):
            raise ValueError("timeout must be positive")
        return self
