"""The Prefect UI's resume form for one wait of a review: the review first, then four fields.

The form shows what a person decides with (outcome, name, reason), the version of the content it
shows (filled in), and nothing else the gate fills in itself: no content hash, no channel, no
proof, no group, no time. Prefect stores the form's JSON schema with the wait and the server
validates every resume against it, so the schema also carries the rules it can express, and the
server refuses a breach before the run wakes:

- outcome and name are required (an empty form is refused), and the outcome is approved or
  rejected: `expired` stays in the dropdown only because the sweepers' full decisions share the
  schema's properties, and a form's `expired` is refused before the run wakes;
- when every listed reviewer is a plain name, the name must be one of them;
- when findings block, a reason is required;
- the content version is the one this wait shows (`votes.content_version`). Prefect's UI fetches
  the form when a reviewer opens it and resumes whichever wait is current when they submit: a form
  opened before another reviewer's edit would otherwise approve content its reviewer never saw.
  The server refuses it; the gate's rule would too (`DecisionFields.decided_on`).

Those rules apply to answers typed into the form, told apart by having no `content_hash`. Every
other sender (the CLI, Slack, the deadline's sweepers) sends a full `DecisionFields` with the hash
it decided on, and the gate's own rule (`rules.refusal`) judges it, as it judges every decision:
the schema only refuses early, it never lets through what the rule refuses.
"""

from __future__ import annotations

from typing import Any

from prefect.input import RunInput
from pydantic import ConfigDict, Field

from prefect_review_gate.gates.identity import is_asserted
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest
from prefect_review_gate.gates.review_markdown import review_summary
from prefect_review_gate.gates.votes import Outcome, content_version

__all__ = ["review_form"]


def _form_rules(request: ReviewRequest) -> dict[str, Any]:
    """The JSON-schema rules for answers typed into the form (those without a content hash)."""
    person = [Outcome.APPROVED.value, Outcome.REJECTED.value]
    version = {"const": content_version(request.content_hash)}
    rules: dict[str, Any] = {
        "properties": {"outcome": {"enum": person}, "content_version": version},
        "required": ["content_version"],
    }
    names = [r for r in request.policy.reviewers if is_asserted(r)]
    if names and len(names) == len(request.policy.reviewers):
        rules["properties"]["reviewer"] = {"enum": names}
    if request.blocking:
        rules["properties"]["reason"] = {"minLength": 1, "pattern": r"\S"}
        rules["required"].append("reason")
    # Not in the top level's `required`: a REST call that sends a full decision without the form's
    # `reason` key must still reach the gate's rule (the UI therefore labels it "Optional", and its
    # description says when it is not).
    return {"if": {"required": ["content_hash"]}, "then": {}, "else": rules}


def review_form(record: ReviewRecord) -> type[RunInput]:
    """The resume form of `record`'s next wait, its description the review itself."""
    request = record.request
    names = ", ".join(r for r in request.policy.reviewers if is_asserted(r))
    blocking = len(request.blocking)
    reason_help = (
        f"Required: {blocking} finding{'s' * (blocking != 1)} block{'s' * (blocking == 1)}. "
        "Why you approve despite them, or why you reject."
        if blocking
        else "Why you decide so."
    )

    class ReviewForm(RunInput):
        # Not RunInput's extra="forbid": full decisions from the CLI, Slack and the sweepers carry
        # fields the form does not show, and the gate reads every answer as `DecisionFields`.
        model_config = ConfigDict(
            title="Your decision", extra="ignore", json_schema_extra=_form_rules(request)
        )

        outcome: Outcome = Field(
            title="Decision", description="approved or rejected ('expired' is the gate's, at the deadline)."
        )
        reviewer: str = Field(
            min_length=1,
            title="Your name",
            description=f"As the policy lists it: {names}." if names else "As the policy lists it.",
        )
        reason: str = Field(default="", title="Reason", description=reason_help)
        content_version: str = Field(
            default=content_version(request.content_hash),
            title="Content version",
            description="Filled in: the version of the actions shown above. Leave it as it is: if "
            "they change before you resume, this answer is refused and you reopen the form.",
        )

    ReviewForm._description = review_summary(record)
    return ReviewForm
