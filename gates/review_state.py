"""The review as a reducer: `apply(record, received) -> Step(record, effects)`, with no I/O.

The run's stored inputs are the log (write-once, in the order the server stored them); the record
is a projection of that log. The gate (gate.py) waits for each input, hands it here, and performs
the effects this returns: save the record, write artifacts, emit events, tell the channels. A
re-run after a suspend replays the same inputs through the same function and reaches the same
state, so nothing is ever read back from a record anyone with API access could overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from prefect_review_gate.gates.request import RefusedDecision, ReviewRecord, ReviewStatus
from prefect_review_gate.gates.rules import Ballot, override_refusal, refusal
from prefect_review_gate.gates.votes import ASSERTED, GATE, DecisionFields, Outcome, Vote
from prefect_review_gate.validators.findings import Finding

__all__ = [
    "NOT_COUNTED",
    "Announce",
    "EditedContent",
    "Effect",
    "Received",
    "Step",
    "Tell",
    "Warn",
    "Write",
    "apply",
    "gate_vote",
    "ignore",
    "reject_without_asking",
]


NOT_COUNTED = "Not counted"  # how the note starts when a decision did not count (the UI form shows it)


@dataclass(frozen=True)
class EditedContent:
    """A reviewer's edit, parsed and validated again by the driver before `apply` sees it.

    `findings` is None when the flow gave no `revalidate=`: then the original findings stand, so an
    edit can never erase findings it was not checked against.
    """

    actions: list[dict[str, Any]]
    content_hash: str
    findings: list[Finding] | None = None
    problem: str = ""  # why the edit cannot be used (not valid actions); '' when it can


@dataclass(frozen=True)
class Received:
    """One decision as the run received it.

    `received_at` is when the Prefect server stored it (the same on every replay); `verified_by`
    the channel whose proof vouched for the reviewer, None for a name typed into the UI or CLI.
    """

    decision: DecisionFields
    received_at: datetime
    verified_by: str | None = None
    edit: EditedContent | None = None


@dataclass(frozen=True)
class Write:
    """Write `record` to the store: the record itself, its findings table, or its decision."""

    what: Literal["record", "findings", "decision"]
    record: ReviewRecord


@dataclass(frozen=True)
class Announce:
    """Emit `review_gate.<event>`; `sequence` keeps a replayed event's id the same."""

    event: str
    record: ReviewRecord
    payload: dict[str, Any] = field(default_factory=dict)
    sequence: str = ""


@dataclass(frozen=True)
class Tell:
    """Call `what` on every channel with `record`."""

    what: Literal["notify", "update", "withdraw"]
    record: ReviewRecord


@dataclass(frozen=True)
class Warn:
    message: str


Effect = Write | Announce | Tell | Warn


@dataclass(frozen=True)
class Step:
    record: ReviewRecord
    effects: tuple[Effect, ...] = ()

    @property
    def closed(self) -> bool:
        return not self.record.is_open


def gate_vote(content_hash: str, outcome: Outcome, note: str, when: datetime) -> Vote:
    """A decision the gate makes itself: the deadline passed, or the policy rejects without asking."""
    return Vote(
        outcome=outcome,
        reviewer="review-gate",
        comment=note,
        content_hash=content_hash,
        channel=GATE,
        decided_at=when,
    )


def reject_without_asking(record: ReviewRecord, now: datetime) -> Step:
    """The policy rejects blocked content outright (`on_blocking="reject"`)."""
    count = len(record.request.blocking)
    note = f"{count} blocking finding(s); the policy rejects without asking."
    vote = gate_vote(record.request.content_hash, Outcome.REJECTED, note, now)
    return _close(record, ReviewStatus.REJECTED, [vote], note, now)


def apply(record: ReviewRecord, received: Received, sequence: int) -> Step:
    """The review after one more decision, and what to do about it. `sequence` counts from 0."""
    at = received.received_at
    record = record.model_copy(
        update={"updated_at": at, "decisions_seen": max(record.decisions_seen, sequence + 1)}
    )
    request = record.request
    if not record.is_open:
        return Step(record)
    if at.timestamp() >= request.deadline.timestamp():
        note = "The deadline passed before the policy's approvals came in."
        late = gate_vote(request.content_hash, Outcome.EXPIRED, note, request.deadline)
        return _close(record, ReviewStatus.EXPIRED, [*record.votes, late], note, at)

    decision = received.decision
    edit = received.edit
    is_edit = edit is not None and edit.content_hash != request.content_hash
    ballot = Ballot(
        outcome=decision.outcome,
        reviewer=decision.reviewer,
        content_hash=decision.content_hash,
        override_reason=decision.override_reason,
        member_of=decision.member_of,
        verified_by=received.verified_by,
        is_edit=is_edit,
    )
    problem = refusal(record, ballot, at)
    if problem is not None:
        refused = RefusedDecision(reviewer=decision.reviewer, code=problem.code.value, at=at)
        record = record.model_copy(
            update={
                "note": f"{NOT_COUNTED} ({decision.reviewer}): {problem}",
                "refused": [*record.refused, refused],
            }
        )
        payload = {"reviewer": decision.reviewer, "reason": str(problem), "code": problem.code.value}
        return Step(
            record,
            (
                Warn(f"Decision from {decision.reviewer!r} not counted: {problem}"),
                # Saved, so that whoever sent it sees why in `review-gate show`, not only in the logs.
                Write("record", record),
                Announce("refused", record, payload, str(sequence)),
            ),
        )
    if decision.outcome is Outcome.EXPIRED:
        note = "Nobody decided before the deadline."
        expired = gate_vote(request.content_hash, Outcome.EXPIRED, note, at)
        return _close(record, ReviewStatus.EXPIRED, [*record.votes, expired], note, at)
    vote = _vote(received)
    if decision.outcome is Outcome.REJECTED:
        note = f"Rejected by {decision.reviewer}" + (f": {decision.comment}" if decision.comment else ".")
        return _close(record, ReviewStatus.REJECTED, [*record.votes, vote], note, at)
    if is_edit and edit is not None:
        return _replace_content(record, vote, edit, sequence, at)
    votes = [*record.votes, vote]
    needed = request.policy.approvals_required
    if len(votes) >= needed:
        return _close(record, ReviewStatus.APPROVED, votes, f"Approved by {_names(votes)}.", at)
    note = f"Approved by {decision.reviewer}; {needed - len(votes)} more approval(s) needed."
    record = record.model_copy(update={"votes": votes, "note": note})
    return Step(
        record,
        (
            Write("record", record),
            Announce("vote", record, {"reviewer": decision.reviewer}, str(sequence)),
            Tell("update", record),
        ),
    )


def ignore(record: ReviewRecord, problem: str, at: datetime, sequence: int) -> Step:
    """A stored input that is no decision at all: noted, and the review keeps waiting."""
    record = record.model_copy(
        update={
            "updated_at": at,
            "decisions_seen": max(record.decisions_seen, sequence + 1),
            "note": f"{NOT_COUNTED}: {problem}",
        }
    )
    return Step(record, (Warn(record.note), Write("record", record)))


def _replace_content(
    record: ReviewRecord, vote: Vote, edit: EditedContent, sequence: int, at: datetime
) -> Step:
    """A reviewer edited the content: a new round on it; their approval counts if the edit may pass."""
    if edit.problem:
        record = record.model_copy(update={"note": f"Edit from {vote.reviewer} not used: {edit.problem}"})
        return Step(record, (Warn(record.note), Write("record", record)))
    old = record
    findings = edit.findings if edit.findings is not None else list(record.request.findings)
    request = record.request.model_copy(
        update={
            "actions": edit.actions,
            "findings": findings,
            "content_hash": edit.content_hash,
            "round": record.request.round + 1,
        }
    )
    blocked = override_refusal(findings, vote.override_reason)
    # The editor approved what they wrote, unless it is blocked and they gave no reason: then it
    # goes back to the reviewers like any new content.
    votes = [] if blocked else [vote.model_copy(update={"content_hash": edit.content_hash})]
    note = (
        f"{vote.reviewer} edited the content; the edit has blocking findings and needs review again."
        if blocked
        else f"{vote.reviewer} edited and approved the content."
    )
    record = record.model_copy(update={"request": request, "votes": votes, "note": note})
    effects: tuple[Effect, ...] = (
        Tell("withdraw", old),
        Write("record", record),
        Write("findings", record),
        Announce("edited", record, {"reviewer": vote.reviewer}, str(sequence)),
        Tell("notify", record),
    )
    if len(votes) >= request.policy.approvals_required:
        closed = _close(record, ReviewStatus.APPROVED, votes, f"Approved with edits by {_names(votes)}.", at)
        return Step(closed.record, effects + closed.effects)
    return Step(record, effects)


def _close(record: ReviewRecord, status: ReviewStatus, votes: list[Vote], note: str, at: datetime) -> Step:
    record = record.model_copy(update={"status": status, "votes": votes, "note": note, "updated_at": at})
    return Step(
        record,
        (
            Write("record", record),
            Write("decision", record),
            Announce(status.value, record, {"reviewers": [v.reviewer for v in votes]}),
            Tell("update", record),
        ),
    )


def _vote(received: Received) -> Vote:
    decision = received.decision
    return Vote(
        outcome=decision.outcome,
        reviewer=decision.reviewer,
        member_of=decision.member_of,
        comment=decision.comment,
        override_reason=decision.override_reason,
        content_hash=decision.content_hash,
        channel=received.verified_by or ASSERTED,
        verified=received.verified_by is not None,
        decided_at=received.received_at,
    )


def _names(votes: list[Vote]) -> str:
    return ", ".join(v.reviewer for v in votes)
