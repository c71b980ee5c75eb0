"""`ReviewRequest` and `ReviewRecord`: what reviewers are asked, and where the review stands.

The record is what every channel reads: the Prefect UI form's description (`review_markdown`), the
CLI's `pending` and `show`, and Slack's message are all rendered from it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, Field

from prefect_review_gate.gates.policy import ReviewPolicy
from prefect_review_gate.gates.votes import Vote
from prefect_review_gate.validators.findings import Finding, Severity

if TYPE_CHECKING:
    from prefect_review_gate.gates.actions import Action

__all__ = ["RefusedDecision", "ReviewRecord", "ReviewRequest", "ReviewStatus"]


class ReviewStatus(StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    ABANDONED = "abandoned"  # its run ended (crashed, failed, cancelled, deleted) while it was open


class ReviewRequest(BaseModel):
    """One question to reviewers: may these actions, with these findings, be committed?"""

    id: str = Field(description="Stable across re-runs of the flow: derived from the run and the content.")
    flow_run_id: UUID
    flow_run_name: str = ""
    flow_name: str = ""
    deployment_id: UUID | None = None
    requester: str = Field(description="Who asks: an agent or a person; never approves its own request.")
    actions: list[dict[str, Any]] = Field(description="The actions in JSON form, with their kind.")
    findings: list[Finding] = Field(default_factory=list)
    content_hash: str
    policy: ReviewPolicy
    created_at: datetime
    deadline: datetime
    round: int = Field(default=0, description="Bumped when an edit replaces the content.")

    def typed_actions(self) -> list[Action]:
        # Imported here: the action kinds' models cost `review-gate pending` a tenth of its start,
        # and it never needs them.
        from prefect_review_gate.gates.actions import parse_actions

        return parse_actions(self.actions)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.BLOCK]


class RefusedDecision(BaseModel):
    """A decision the rule did not count, kept so that monitoring can say why decisions are refused."""

    reviewer: str
    code: str = Field(description="The rule's refusal code (rules.RefusalCode), e.g. not_a_reviewer.")
    at: datetime = Field(description="When the Prefect server stored the decision.")


class ReviewRecord(BaseModel):
    """Where a review stands: its request, status and the votes counted so far."""

    request: ReviewRequest
    status: ReviewStatus = ReviewStatus.OPEN
    votes: list[Vote] = Field(default_factory=list)
    updated_at: datetime
    note: str = Field(default="", description="The last thing that happened, for a person.")
    decisions_seen: int = Field(
        default=0, description="Decisions processed so far: a re-run replays these without announcing them."
    )
    refused: list[RefusedDecision] = Field(
        default_factory=list, description="Decisions the rule refused, in the order they came."
    )

    @property
    def approvals(self) -> list[str]:
        return [v.reviewer for v in self.votes if v.outcome == "approved"]

    @property
    def is_open(self) -> bool:
        return self.status is ReviewStatus.OPEN
