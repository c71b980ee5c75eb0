"""`ReviewPolicy`: who may decide, how many must approve, how long they have, what blocking findings do."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["OnBlocking", "ReviewPolicy"]


class OnBlocking(StrEnum):
    """What blocking findings do to a review."""

    REQUIRE_OVERRIDE = "require_override"  # reviewers see them; approving needs a written reason
    REJECT = "reject"  # the review ends rejected without asking anyone


class ReviewPolicy(BaseModel):
    """The rules one review is decided by.

    Reviewer identities are plain names for the Prefect UI and CLI (`alice`), and channel-qualified
    ids where a channel verifies who clicked (`slack:U024BE7LH`, `slack-group:S0614TZR7`).
    """

    model_config = ConfigDict(frozen=True)

    reviewers: list[str] = Field(min_length=1, description="Identities allowed to decide.")
    approvals_required: int = Field(default=1, ge=1, description="Distinct approvals needed (M of N).")
    allow_requester: bool = Field(
        default=False, description="Whether the requester may decide its own request."
    )
    timeout: timedelta = Field(default=timedelta(hours=4), description="How long reviewers have to decide.")
    on_blocking: OnBlocking = Field(
        default=OnBlocking.REQUIRE_OVERRIDE, description="What blocking findings do to the review."
    )
    slack_channel: str | None = Field(default=None, description="Slack channel to post the review to.")
    escalation: list[str] = Field(
        default_factory=list, description="Who is mentioned when the deadline nears."
    )

    @model_validator(mode="after")
    def _quorum_is_reachable(self) -> Self:
        if self.approvals_required > len(set(self.reviewers)):
            raise ValueError(
                f"approvals_required={self.approvals_required} but only {len(set(self.reviewers))} reviewers"
            )
        if self.timeout <= timedelta(0):
            raise ValueError("timeout must be positive")
        return self

    def may_decide(self, identity: str, requester: str | None) -> bool:
        """True when `identity` is a listed reviewer (or a listed group's member), and not the requester.

        The requester may decide only when `allow_requester` is set.
        """
        if not self.allow_requester and requester is not None and identity == requester:
            return False
        if identity in self.reviewers:
            return True
        # `slack-group:S.../U...`: a member of a listed Slack user group, as the Slack server verified.
        group, _, member = identity.partition("/")
        if not member or not group.startswith("slack-group:") or group not in self.reviewers:
            return False
        return self.allow_requester or requester != f"slack:{member}"
