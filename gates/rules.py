"""The decision rule: the one place that says whether a decision counts.

The gate inside the run applies it to every decision it receives; the CLI, the Slack server and any
other channel call it before sending, only to tell the person early, and show its message verbatim.
It is pure: a review's record, a `Ballot` and the time in; a `Refusal` or None out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from prefect_review_gate.gates.identity import is_asserted, qualifier
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.votes import Outcome
from prefect_review_gate.validators.findings import Finding, Severity

__all__ = ["EXPIRY_SKEW_SECONDS", "Ballot", "Refusal", "RefusalCode", "override_refusal", "refusal"]

# An expired decision may arrive a moment before the deadline by the sender's clock.
EXPIRY_SKEW_SECONDS = 5.0


class RefusalCode(StrEnum):
    CLOSED = "closed"
    EARLY_EXPIRY = "early_expiry"
    STALE_CONTENT = "stale_content"
    REQUESTER = "requester"
    NOT_A_REVIEWER = "not_a_reviewer"
    UNVERIFIED = "unverified_identity"
    ALREADY_VOTED = "already_voted"
    NEEDS_OVERRIDE_REASON = "needs_override_reason"


@dataclass(frozen=True)
class Refusal:
    """Why a decision does not count, for the person who sent it."""

    code: RefusalCode
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Ballot:
    """A decision as the rule sees it.

    `verified_by` names the channel whose proof vouched for `reviewer` (and `member_of`), or is
    None for a name typed into the Prefect UI or the CLI. `is_edit` marks an approval of edited
    content: its override reason is checked against the edit's own findings (`override_refusal`).
    """

    outcome: Outcome
    reviewer: str
    content_hash: str
    override_reason: str = ""
    member_of: str = ""
    verified_by: str | None = None
    is_edit: bool = False


def refusal(record: ReviewRecord, ballot: Ballot, now: datetime) -> Refusal | None:
    """Why `ballot` does not count on `record` at `now` (the server's time), or None when it does."""
    request = record.request
    if not record.is_open:
        return Refusal(RefusalCode.CLOSED, f"the review is already decided: {record.status.value}")
    if ballot.outcome is Outcome.EXPIRED:
        if now.timestamp() < request.deadline.timestamp() - EXPIRY_SKEW_SECONDS:
            return Refusal(
                RefusalCode.EARLY_EXPIRY, "'expired' is for the deadline; choose approved or rejected"
            )
        return None
    if ballot.content_hash != request.content_hash:
        return Refusal(
            RefusalCode.STALE_CONTENT,
            "it was made on other content (stale content hash); decide on the current content",
        )
    policy = request.policy
    if ballot.reviewer == request.requester and not policy.allow_requester:
        return Refusal(RefusalCode.REQUESTER, "the requester may not decide its own request")
    problem = _identity_refusal(policy.reviewers, ballot)
    if problem is not None:
        return problem
    if any(v.reviewer == ballot.reviewer for v in record.votes):
        return Refusal(
            RefusalCode.ALREADY_VOTED,
            f"{ballot.reviewer} already approved; approvals must come from distinct reviewers",
        )
    if ballot.outcome is Outcome.APPROVED and not ballot.is_edit:
        return override_refusal(request.findings, ballot.override_reason)
    return None


def override_refusal(findings: Sequence[Finding], override_reason: str) -> Refusal | None:
    """Approving content with blocking findings needs a written reason."""
    if any(f.severity is Severity.BLOCK for f in findings) and not override_reason.strip():
        return Refusal(
            RefusalCode.NEEDS_OVERRIDE_REASON, "approving despite blocking findings needs an override reason"
        )
    return None


def _identity_refusal(reviewers: Sequence[str], ballot: Ballot) -> Refusal | None:
    # A group member decides as the listed group, as the verifying channel found them in it.
    listed = ballot.member_of or ballot.reviewer
    if ballot.member_of and is_asserted(ballot.member_of):
        return Refusal(
            RefusalCode.NOT_A_REVIEWER, f"{ballot.member_of} is a name, not a group to be a member of"
        )
    if listed not in reviewers:
        return Refusal(RefusalCode.NOT_A_REVIEWER, f"{listed} is not a reviewer this policy lists")
    for identity in (listed, ballot.reviewer):
        if not is_asserted(identity) and ballot.verified_by is None:
            return Refusal(
                RefusalCode.UNVERIFIED,
                f"{identity} counts only when the channel that verifies '{qualifier(identity)}:' identities "
                "vouches for who acted (a click in that channel); a name typed into the Prefect UI or the "
                "CLI proves only access to the Prefect API",
            )
    if ballot.member_of and ballot.verified_by is None:
        return Refusal(
            RefusalCode.UNVERIFIED, "group membership counts only as a verifying channel checked it"
        )
    return None
