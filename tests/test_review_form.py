"""The Prefect UI's resume form of a review: what it shows, what it asks, what the server refuses.

The schema is checked with Prefect's own validator, the one the server runs on every resume, so a
refusal here is a refusal before the run wakes. The browser test (test_prefect_ui) shows the same
form in Prefect's UI.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from prefect.utilities.schema_tools import ValidationError, validate

from prefect_review_gate.gates.decision import Outcome, ReviewDecision
from prefect_review_gate.gates.policy import ReviewPolicy
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest
from prefect_review_gate.gates.review_form import review_form
from prefect_review_gate.gates.review_markdown import finding_where, review_card
from prefect_review_gate.gates.store import InMemoryReviewStore, card_key
from prefect_review_gate.gates.votes import DecisionFields, content_version
from prefect_review_gate.validators import Finding, Severity

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
DRAFT = "# Proposal\n\nWe grew 400% last year.\n"
BLOCKING = Finding(
    code="unsupported_number",
    severity=Severity.BLOCK,
    message="400% is in no source",
    pointer="/actions/0/line",
    start=DRAFT.index("400%"),
    end=DRAFT.index("400%") + 4,
    evidence="Revenue grew 40%.\n# Giant heading from a source",
)


def _record(findings: list[Finding], reviewers: list[str] | None = None, note: str = "") -> ReviewRecord:
    request = ReviewRequest(
        id="abc123def456",
        flow_run_id=uuid4(),
        requester="agent:test",
        actions=[{"kind": "test.write_line", "path": "/tmp/x", "line": DRAFT}],
        findings=findings,
        content_hash="f" * 64,
        policy=ReviewPolicy(reviewers=reviewers or ["alice", "bob"]),
        created_at=NOW,
        deadline=NOW + timedelta(hours=1),
    )
    return ReviewRecord(request=request, updated_at=NOW, note=note)


def _schema(record: ReviewRecord) -> dict[str, Any]:
    return review_form(record).model_json_schema(by_alias=True)


def _refusal(record: ReviewRecord, answer: dict[str, Any]) -> str:
    """What the server says to `answer` (the form's filled-in version added when it has none)."""
    if "content_hash" not in answer:
        answer = {"content_version": content_version(record.request.content_hash), **answer}
    try:
        validate(answer, _schema(record), raise_on_error=True)
    except ValidationError as exc:
        return str(exc)
    return ""


@pytest.fixture(autouse=True)
def _write_line_kind() -> None:
    import gate_helpers  # noqa: F401  (registers the test.write_line action kind)


def test_the_form_asks_only_what_a_reviewer_decides() -> None:
    properties = _schema(_record([BLOCKING]))["properties"]
    assert list(properties) == ["outcome", "reviewer", "reason", "content_version"]
    assert properties["content_version"]["default"] == "f" * 12  # filled in: the content shown
    for internal in ("content_hash", "member_of", "proof", "channel", "decided_at", "edited_actions"):
        assert internal not in properties


def test_an_empty_form_is_refused() -> None:
    assert "'outcome' is a required property" in _refusal(_record([]), {})


def test_expired_typed_into_the_form_is_refused_before_the_run_wakes() -> None:
    # Only the gate's sweepers decide `expired`, at the deadline, with the content hash they saw.
    refused = _refusal(_record([]), {"outcome": "expired", "reviewer": "alice", "reason": "late"})
    assert "'expired' is not one of ['approved', 'rejected']" in refused


def test_a_name_the_policy_does_not_list_is_refused_before_the_run_wakes() -> None:
    refused = _refusal(_record([]), {"outcome": "approved", "reviewer": "mallory", "reason": ""})
    assert "'mallory' is not one of ['alice', 'bob']" in refused
    assert _refusal(_record([]), {"outcome": "approved", "reviewer": "alice", "reason": ""}) == ""


def test_a_reason_is_required_and_said_so_only_when_findings_block() -> None:
    blocked = _record([BLOCKING])
    assert _schema(blocked)["properties"]["reason"]["description"].startswith("Required: 1 finding blocks.")
    assert not _schema(_record([]))["properties"]["reason"]["description"].startswith("Required")
    assert "reason" in _refusal(blocked, {"outcome": "approved", "reviewer": "alice"})
    assert "reason" in _refusal(blocked, {"outcome": "approved", "reviewer": "alice", "reason": "  "})
    assert _refusal(blocked, {"outcome": "approved", "reviewer": "alice", "reason": "checked"}) == ""
    assert _refusal(_record([]), {"outcome": "rejected", "reviewer": "bob"}) == ""


def test_a_form_opened_before_the_content_changed_is_refused_before_the_run_wakes() -> None:
    record = _record([])
    answer = {"outcome": "approved", "reviewer": "alice", "reason": ""}
    edited = record.model_copy(
        update={"request": record.request.model_copy(update={"content_hash": "e" * 64})}
    )
    assert _refusal(record, {**answer, "content_version": "f" * 12}) == ""
    assert "'eeeeeeeeeeee' was expected" in _refusal(edited, {**answer, "content_version": "f" * 12})
    with pytest.raises(ValidationError, match="'content_version' is a required property"):
        validate(answer, _schema(edited), raise_on_error=True)


def test_the_gate_binds_a_form_answer_to_the_content_it_showed_or_to_nothing() -> None:
    current = "e" * 64
    form = {"outcome": "approved", "reviewer": "alice"}
    assert DecisionFields.model_validate({**form, "content_version": "e" * 12}).decided_on(current) == current
    assert DecisionFields.model_validate({**form, "content_version": "f" * 12}).decided_on(current) != current
    assert DecisionFields.model_validate(form).decided_on(current) == ""  # named nothing: stale
    full = DecisionFields.model_validate({**form, "content_hash": "f" * 64})
    assert full.decided_on(current) == "f" * 64


def test_channel_identities_keep_a_free_name_field_for_the_gates_rule_to_judge() -> None:
    record = _record([], reviewers=["alice", "slack:U024BE7LH"])
    assert _refusal(record, {"outcome": "approved", "reviewer": "slack:U999", "reason": ""}) == ""


def test_full_decisions_from_the_cli_slack_and_the_sweepers_pass_the_forms_schema() -> None:
    # They carry the content hash they decided on; the gate's own rule judges them.
    blocked = _record([BLOCKING])
    for decision in (
        ReviewDecision(outcome=Outcome.EXPIRED, reviewer="review-gate", content_hash="f" * 64),
        ReviewDecision(outcome=Outcome.APPROVED, reviewer="slack:U1", content_hash="f" * 64, proof="x"),
        ReviewDecision(outcome=Outcome.REJECTED, reviewer="alice", comment="no", content_hash="f" * 64),
    ):
        assert _refusal(blocked, decision.model_dump(mode="json")) == ""


def test_the_forms_reason_is_an_approvals_override_reason_or_a_rejections_comment() -> None:
    approved = DecisionFields.model_validate({"outcome": "approved", "reviewer": "a", "reason": "ok"})
    rejected = DecisionFields.model_validate({"outcome": "rejected", "reviewer": "a", "reason": "no"})
    assert (approved.override_reason, approved.comment, approved.content_hash) == ("ok", "", "")
    assert (rejected.override_reason, rejected.comment) == ("", "no")


def test_the_description_shows_the_review_first_and_agent_markdown_as_text() -> None:
    description = review_form(_record([BLOCKING]))._description
    assert isinstance(description, str)
    lines = description.splitlines()
    assert lines.index("**Actions: 1**") < lines.index("**Details**")
    assert any("400% is in no source" in line for line in lines[: lines.index("**Details**")])
    # Nothing an agent or a source wrote may start a line of markdown of its own: no heading.
    assert not [line for line in lines if line.lstrip(" -").startswith("#")], description
    assert "\\# Giant heading" in description and "\\# Proposal" in description


def test_the_reopened_form_says_why_the_last_decision_did_not_count() -> None:
    note = "Not counted (alice): alice already approved; approvals must come from distinct reviewers"
    description = review_form(_record([BLOCKING], note=note))._description
    assert isinstance(description, str)
    first = description.splitlines()[0]
    assert "did not count" in first and "alice already approved" in first


def test_findings_are_placed_by_line_not_by_character_offsets() -> None:
    record = _record([BLOCKING])
    assert finding_where(BLOCKING, record.request.actions) == "line, line 3"
    assert finding_where(BLOCKING, [*record.request.actions] * 2) == "action 1 line, line 3"
    # A draft validator's span has no pointer: it is in the one action's body.
    draft_span = BLOCKING.model_copy(update={"pointer": None})
    assert finding_where(draft_span, [{"kind": "x", "body": DRAFT}]) == "body, line 3"
    card = review_card(record)
    assert "line 3" in card and "chars" not in card


@pytest.mark.anyio
async def test_the_review_has_one_card_kept_up_to_date() -> None:
    store = InMemoryReviewStore()
    record = _record([BLOCKING])
    await store.save(record)
    await store.write_findings(record)
    await store.write_decision(record.model_copy(update={"note": "Approved by alice."}))
    assert list(store.artifacts) == [card_key(record.request.id)]
    [card] = store.artifacts[card_key(record.request.id)]
    assert "Approved by alice" in card and json.dumps(card)
