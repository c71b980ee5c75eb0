"""What a decision says when sent (`DecisionFields`), and what the gate recorded of it (`Vote`).

Prefect-free: `ReviewDecision` (decision.py) is `DecisionFields` as a Prefect `RunInput`, which is
what a paused run accepts. Records, the CLI's listings and the Slack server only read votes, so
they start without importing Prefect (about two seconds of a `review-gate pending`).

The sender chooses what it decides; the gate alone fills in where a vote came from and when:
`channel` is the channel whose proof verified the reviewer (`ASSERTED` for a name typed into the
Prefect UI or the CLI), `decided_at` the time the Prefect server stored the decision.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from prefect_review_gate.gates.proofs import ProofClaims

__all__ = ["ASSERTED", "GATE", "DecisionFields", "Outcome", "Vote", "content_version"]

ASSERTED = "prefect-api"  # typed into the Prefect UI's form, the CLI or a REST call: unverified
GATE = "gate"  # the gate itself: its deadline, or a policy that rejects without asking


def content_version(content_hash: str) -> str:
    """The short form of a content hash that the Prefect UI's form fills in and sends back."""
    return content_hash[:12]


class Outcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class DecisionFields(BaseModel):
    """One reviewer's answer to one review, as it is sent to the waiting run."""

    outcome: Outcome = Field(description="approved or rejected.")
    reviewer: str = Field(min_length=1, description="Who decides: your name, as the policy lists it.")
    comment: str = Field(default="", description="Why; required in spirit for a rejection.")
    override_reason: str = Field(
        default="", description="Required to approve despite blocking findings: why they are acceptable."
    )
    content_hash: str = Field(
        default="",
        description="The content this decision is made on; empty from the Prefect UI's form, which "
        "sends the `content_version` it showed instead.",
    )
    content_version: str = Field(
        default="",
        description="Filled in by the Prefect UI's form: the content it showed (`content_version`).",
    )
    edited_actions: list[dict[str, Any]] | None = Field(
        default=None,
        description="Optional: the actions as you want them instead (JSON); they are validated again.",
    )
    member_of: str = Field(
        default="", description="Set by a verifying channel: the listed group it found you in. Leave empty."
    )
    proof: str = Field(default="", description="Set by a verifying channel (Slack). Leave empty.")

    @model_validator(mode="before")
    @classmethod
    def _from_form(cls, data: Any) -> Any:
        """The Prefect UI form's one `reason` is an approval's override reason, else a comment."""
        if not isinstance(data, dict) or not data.get("reason"):
            return data
        if data.get("comment") or data.get("override_reason"):
            return data
        target = "override_reason" if data.get("outcome") == Outcome.APPROVED else "comment"
        return {**data, target: data["reason"]}

    def decided_on(self, current_hash: str) -> str:
        """The content hash this decision is made on, the review's content being `current_hash` now.

        A full decision (CLI, Slack, the sweepers) names its hash. An answer typed into the Prefect
        UI's form names the version the form showed: the form is fetched when a reviewer opens it,
        so one opened before an edit names the old version, and binds to no current content. An
        answer naming neither binds to nothing either: the gate's rule refuses it as stale.
        """
        if self.content_hash:
            return self.content_hash
        if self.content_version and self.content_version == content_version(current_hash):
            return current_hash
        return self.content_version

    def claims(self, review_id: str) -> ProofClaims:
        """What a channel's proof must cover for this decision on `review_id`."""
        return ProofClaims(
            review_id=review_id,
            content_hash=self.content_hash,
            outcome=self.outcome.value,
            reviewer=self.reviewer,
            member_of=self.member_of,
            comment=self.comment,
            override_reason=self.override_reason,
            edited_actions=self.edited_actions,
        )


class Vote(BaseModel):
    """One decision as the gate counted (or recorded) it."""

    outcome: Outcome
    reviewer: str = Field(description="The person, as the policy or the verifying channel names them.")
    member_of: str = Field(default="", description="The listed group the verifying channel found them in.")
    comment: str = ""
    override_reason: str = ""
    content_hash: str
    channel: str = Field(description=f"The channel that verified the reviewer, or {ASSERTED!r}.")
    verified: bool = Field(default=False, description="True when a channel's proof vouched for the reviewer.")
    decided_at: datetime | None = Field(default=None, description="When the Prefect server stored it.")

    @property
    def provenance(self) -> str:
        """How the reviewer's identity was established, for a person reading the record."""
        if self.channel == GATE:
            return "decided by the gate"
        if self.verified:
            return f"verified by {self.channel}"
        return "name as typed (Prefect UI or CLI)"
