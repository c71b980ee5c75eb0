"""The gate's state machine with no Prefect server: the decision rule and the reducer, table-driven
and property-based. Every decision here is what a paused run could receive from anyone with API
access; only the proofs a channel signs make channel identities count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings, strategies as st

from prefect_review_gate.gates.actions import content_hash, parse_actions
from prefect_review_gate.gates.decision import ReviewDecision
from prefect_review_gate.gates.policy import ReviewPolicy
from prefect_review_gate.gates.proofs import DecisionSigner, ProofClaims, derive_key, vouching_channel
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.review_state import EditedContent, Received, Step, Tell, Write, apply
from prefect_review_gate.gates.rules import Ballot, RefusalCode, refusal
from prefect_review_gate.gates.votes import ASSERTED, Outcome
from prefect_review_gate.validators.findings import Finding, Severity

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ACTIONS = [{"kind": "email.send", "to": ["ana@client.example"], "subject": "Next steps", "body": "Hello"}]
BLOCKING = Finding(code="unsupported_number", severity=Severity.BLOCK, message="400% is in no source")
SLACK = DecisionSigner("slack", derive_key("test-signing-secret", "slack decision v1"))


class SlackIntake:
    """The gate's side of the Slack channel, as `SlackChannel` implements it."""

    name = "slack"

    def vouches_for(self, qualifier: str) -> bool:
        return qualifier in ("slack", "slack-group")

    def verifies(self, claims: ProofClaims, proof: str) -> bool:
        return SLACK.verify(claims, proof)


def record_for(policy: dict[str, Any], findings: list[Finding] | None = None) -> ReviewRecord:
    actions = parse_actions(ACTIONS)
    request = ReviewRequest(
        id="abcdef012345",
        flow_run_id=UUID(int=1),
        requester="agent:closer",
        actions=ACTIONS,
        findings=findings or [],
        content_hash=content_hash(actions),
        policy=ReviewPolicy.model_validate({"timeout": 3600, **policy}),
        created_at=T0,
        deadline=T0 + timedelta(hours=1),
    )
    return ReviewRecord(request=request, updated_at=T0)


def received(
    record: ReviewRecord,
    reviewer: str,
    outcome: Outcome = Outcome.APPROVED,
    *,
    signed_by: DecisionSigner | None = None,
    at: datetime = T0 + timedelta(minutes=5),
    edit: EditedContent | None = None,
    **fields: Any,
) -> Received:
    """A decision as the gate receives it, its proof checked the way the gate checks it."""
    decision = ReviewDecision(
        outcome=outcome, reviewer=reviewer, content_hash=record.request.content_hash, **fields
    )
    if signed_by is not None:
        decision = decision.model_copy(
            update={"proof": signed_by.sign(decision.claims(record.request.id), at)}
        )
    verified = vouching_channel(
        decision.claims(record.request.id),
        decision.proof,
        [decision.reviewer, decision.member_of],
        [SlackIntake()],
    )
    return Received(decision=decision, received_at=at, verified_by=verified, edit=edit)


def run(record: ReviewRecord, *decisions: Received) -> Step:
    step = Step(record)
    for sequence, decision in enumerate(decisions):
        step = apply(step.record, decision, sequence)
    return step


# --- identities -------------------------------------------------------------------------------


def test_a_typed_channel_identity_counts_for_nothing() -> None:
    record = record_for({"reviewers": ["slack:UALICE"]})
    step = run(record, received(record, "slack:UALICE"))
    assert step.record.is_open and step.record.votes == []
    assert "counts only when the channel that verifies 'slack:' identities vouches" in step.record.note


def test_the_same_identity_signed_by_the_slack_server_counts() -> None:
    record = record_for({"reviewers": ["slack:UALICE"]})
    step = run(record, received(record, "slack:UALICE", signed_by=SLACK))
    assert step.record.status is ReviewStatus.APPROVED
    [vote] = step.record.votes
    assert (vote.channel, vote.verified, vote.decided_at) == ("slack", True, T0 + timedelta(minutes=5))


def test_one_person_cannot_meet_a_quorum_of_two_by_typing_names() -> None:
    record = record_for({"reviewers": ["slack:UALICE", "slack:UBOB"], "approvals_required": 2})
    step = run(
        record,
        received(record, "slack:UALICE", signed_by=SLACK),
        received(record, "slack:UBOB"),  # typed: Mallory holds API access, not Bob's Slack account
        received(record, "slack-group:SOPS/UMALLORY"),
        received(record, "slack:UMALLORY", member_of="slack:UBOB"),
    )
    assert step.record.is_open and [v.reviewer for v in step.record.votes] == ["slack:UALICE"]


def test_group_membership_counts_only_as_the_verifying_channel_checked_it() -> None:
    record = record_for({"reviewers": ["slack-group:SOPS"]})
    forged = run(record, received(record, "slack:UMALLORY", member_of="slack-group:SOPS"))
    assert forged.record.is_open
    as_group = run(record, received(record, "slack-group:SOPS"))  # the group, not a person
    assert as_group.record.is_open
    signed = run(record, received(record, "slack:UCAROL", member_of="slack-group:SOPS", signed_by=SLACK))
    assert signed.record.status is ReviewStatus.APPROVED
    assert [(v.reviewer, v.member_of) for v in signed.record.votes] == [("slack:UCAROL", "slack-group:SOPS")]


def test_a_proof_is_good_only_for_what_it_signed() -> None:
    record = record_for({"reviewers": ["slack:UALICE", "slack:UBOB"]})
    good = received(record, "slack:UALICE", signed_by=SLACK)
    proof = good.decision.proof
    for change in (
        {"reviewer": "slack:UBOB"},
        {"outcome": Outcome.REJECTED},
        {"comment": "changed after signing"},
        {"content_hash": "0" * 64},
    ):
        tampered = good.decision.model_copy(update=change)
        claims = tampered.claims(record.request.id)
        assert vouching_channel(claims, proof, [tampered.reviewer], [SlackIntake()]) is None, change
    other_review = good.decision.claims("000000000000")
    assert vouching_channel(other_review, proof, ["slack:UALICE"], [SlackIntake()]) is None
    wrong_key = DecisionSigner("slack", derive_key("another secret", "slack decision v1"))
    assert run(record, received(record, "slack:UALICE", signed_by=wrong_key)).record.is_open
    assert vouching_channel(good.decision.claims(record.request.id), proof, ["slack:UALICE"], []) is None


def test_a_channel_vouches_only_for_its_own_identities() -> None:
    record = record_for({"reviewers": ["github:alice"]})
    step = run(record, received(record, "github:alice", signed_by=SLACK))
    assert step.record.is_open and "'github:' identities" in step.record.note


def test_asserted_names_are_trimmed_and_the_requester_never_decides() -> None:
    record = record_for({"reviewers": ["alice", "agent:closer"]})
    step = run(record, received(record, "agent:closer"), received(record, "  alice "))
    assert "requester may not decide" in run(record, received(record, "agent:closer")).record.note
    # The gate normalizes before the reducer sees it; the reducer compares exactly.
    assert step.record.is_open
    trimmed = run(record, received(record, "alice"))
    assert trimmed.record.status is ReviewStatus.APPROVED and trimmed.record.votes[0].channel == ASSERTED


def test_policy_identities_are_normalized_where_they_are_written() -> None:
    policy = ReviewPolicy(reviewers=[" alice ", "slack:U1\t"], escalation=[" slack:U2"])
    assert policy.reviewers == ["alice", "slack:U1"] and policy.escalation == ["slack:U2"]
    with pytest.raises(ValueError, match="must not be empty"):
        ReviewPolicy(reviewers=["  "])


# --- the rule, table-driven -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ballot", "code"),
    [
        (Ballot(Outcome.APPROVED, "mallory", "HASH"), RefusalCode.NOT_A_REVIEWER),
        (Ballot(Outcome.APPROVED, "agent:closer", "HASH"), RefusalCode.REQUESTER),
        (Ballot(Outcome.APPROVED, "slack:U1", "HASH"), RefusalCode.UNVERIFIED),
        (
            Ballot(Outcome.APPROVED, "slack:U1", "HASH", verified_by="slack"),
            RefusalCode.NEEDS_OVERRIDE_REASON,
        ),
        (Ballot(Outcome.APPROVED, "alice", "stale"), RefusalCode.STALE_CONTENT),
        (Ballot(Outcome.EXPIRED, "review-gate", "HASH"), RefusalCode.EARLY_EXPIRY),
        (Ballot(Outcome.APPROVED, "alice", "HASH", override_reason="  "), RefusalCode.NEEDS_OVERRIDE_REASON),
        (Ballot(Outcome.REJECTED, "slack:U2", "HASH", member_of="slack-group:S1"), RefusalCode.UNVERIFIED),
    ],
)
def test_the_rule_refuses(ballot: Ballot, code: RefusalCode) -> None:
    record = record_for({"reviewers": ["alice", "slack:U1", "slack-group:S1"]}, [BLOCKING])
    ballot = Ballot(**{**ballot.__dict__, "content_hash": _hash(record, ballot.content_hash)})
    problem = refusal(record, ballot, T0 + timedelta(minutes=1))
    assert problem is not None and problem.code is code


@pytest.mark.parametrize(
    "ballot",
    [
        Ballot(Outcome.APPROVED, "alice", "HASH", override_reason="checked by phone"),
        Ballot(Outcome.REJECTED, "alice", "HASH"),
        Ballot(Outcome.REJECTED, "slack:U2", "HASH", member_of="slack-group:S1", verified_by="slack"),
        Ballot(Outcome.EXPIRED, "review-gate", "stale"),  # at the deadline, expiry needs no identity
    ],
)
def test_the_rule_accepts(ballot: Ballot) -> None:
    record = record_for({"reviewers": ["alice", "slack:U1", "slack-group:S1"]}, [BLOCKING])
    ballot = Ballot(**{**ballot.__dict__, "content_hash": _hash(record, ballot.content_hash)})
    at = T0 + timedelta(hours=1) if ballot.outcome is Outcome.EXPIRED else T0 + timedelta(minutes=1)
    assert refusal(record, ballot, at) is None


def _hash(record: ReviewRecord, placeholder: str) -> str:
    return record.request.content_hash if placeholder == "HASH" else placeholder


# --- the reducer ------------------------------------------------------------------------------


def test_quorum_needs_distinct_people_and_saves_and_tells_in_between() -> None:
    record = record_for({"reviewers": ["alice", "bob", "carol"], "approvals_required": 2})
    first = run(record, received(record, "alice"))
    assert first.record.is_open and first.record.approvals == ["alice"]
    assert first.effects[0] == Write("record", first.record) and Tell("update", first.record) in first.effects
    again = apply(first.record, received(record, "alice"), 1)
    assert again.record.approvals == ["alice"] and "already approved" in again.record.note
    done = apply(again.record, received(record, "carol"), 2)
    assert done.record.status is ReviewStatus.APPROVED and done.record.approvals == ["alice", "carol"]


def test_the_first_final_outcome_stands() -> None:
    record = record_for({"reviewers": ["alice", "bob"]})
    step = run(
        record, received(record, "bob", Outcome.REJECTED, comment="invented"), received(record, "alice")
    )
    assert step.record.status is ReviewStatus.REJECTED and step.record.note == "Rejected by bob: invented"


def test_a_decision_stored_after_the_deadline_expires_the_review() -> None:
    record = record_for({"reviewers": ["alice"]})
    step = run(record, received(record, "alice", at=T0 + timedelta(hours=1, seconds=1)))
    assert step.record.status is ReviewStatus.EXPIRED and step.record.votes[-1].reviewer == "review-gate"


def test_an_unchanged_edit_is_no_way_around_the_override_reason() -> None:
    record = record_for({"reviewers": ["alice"]}, [BLOCKING])
    same = EditedContent(actions=ACTIONS, content_hash=record.request.content_hash)
    step = run(record, received(record, "alice", edit=same, edited_actions=ACTIONS))
    assert step.record.is_open and "needs an override reason" in step.record.note
    assert step.record.request.findings == [BLOCKING]


def test_an_edit_not_validated_again_keeps_the_original_findings() -> None:
    record = record_for({"reviewers": ["alice", "bob"]}, [BLOCKING])
    edited = [{**ACTIONS[0], "body": "Hello again"}]
    edit = EditedContent(actions=edited, content_hash=content_hash(parse_actions(edited)), findings=None)
    step = run(record, received(record, "alice", edit=edit, edited_actions=edited))
    assert step.record.is_open and step.record.request.findings == [BLOCKING]
    assert step.record.request.round == 1 and step.record.votes == []
    # With a reason, the editor's approval of their own edit counts, on the edited content.
    reasoned = run(
        record, received(record, "alice", edit=edit, edited_actions=edited, override_reason="fine")
    )
    assert reasoned.record.status is ReviewStatus.APPROVED
    assert reasoned.record.votes[0].content_hash == edit.content_hash


def test_an_edit_validated_clean_is_approved_by_its_editor() -> None:
    record = record_for({"reviewers": ["alice"]}, [BLOCKING])
    edited = [{**ACTIONS[0], "body": "Hello again"}]
    edit = EditedContent(actions=edited, content_hash=content_hash(parse_actions(edited)), findings=[])
    step = run(record, received(record, "alice", edit=edit, edited_actions=edited))
    assert step.record.status is ReviewStatus.APPROVED and step.record.request.actions == edited


# --- properties -------------------------------------------------------------------------------

NAMES = st.sampled_from(
    ["alice", "bob", "slack:UALICE", "slack:UBOB", "slack:UMALLORY", "agent:closer", " alice"]
)
GROUPS = st.sampled_from(["", "slack-group:SOPS", "slack:UALICE"])
DECISIONS = st.lists(
    st.tuples(NAMES, GROUPS, st.sampled_from(list(Outcome)), st.booleans(), st.sampled_from(["", "ok"])),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(DECISIONS)
def test_no_sequence_of_unsigned_decisions_approves_a_slack_only_review(decisions: list[Any]) -> None:
    record = record_for({"reviewers": ["slack:UALICE", "slack-group:SOPS"], "approvals_required": 1})
    step = Step(record)
    for sequence, (name, group, outcome, signed, reason) in enumerate(decisions):
        if signed:
            continue  # only Mallory's unsigned decisions here
        step = apply(
            step.record, received(record, name, outcome, member_of=group, override_reason=reason), sequence
        )
    assert step.record.status is not ReviewStatus.APPROVED


@settings(max_examples=300, deadline=None)
@given(DECISIONS, st.integers(min_value=1, max_value=3))
def test_approval_needs_that_many_distinct_allowed_people(decisions: list[Any], needed: int) -> None:
    reviewers = ["alice", "bob", "slack:UALICE", "slack-group:SOPS"]
    record = record_for({"reviewers": reviewers, "approvals_required": needed}, [BLOCKING])
    step = Step(record)
    for sequence, (name, group, outcome, signed, reason) in enumerate(decisions):
        decision = received(
            record,
            name,
            outcome,
            member_of=group,
            override_reason=reason,
            signed_by=SLACK if signed else None,
        )
        step = apply(step.record, decision, sequence)
    if step.record.status is ReviewStatus.APPROVED:
        votes = step.record.votes
        assert len({v.reviewer for v in votes}) == len(votes) >= needed
        assert all(v.override_reason for v in votes)  # blocking findings: every approval gave a reason
        assert all(v.verified or ":" not in v.reviewer for v in votes)
        assert "agent:closer" not in {v.reviewer for v in votes}
