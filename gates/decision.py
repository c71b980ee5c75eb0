"""`ReviewDecision`: one reviewer's answer, the same whichever channel it came through.

It is a Prefect `RunInput`, so the Prefect UI renders it as the resume form of the paused run and the
server validates every resume (UI, CLI, Slack, REST) against its schema. `outcome` and `reviewer`
stay required: an empty "Resume" in the UI is refused and the run keeps waiting.
"""

from __future__ import annotations

from uuid import UUID

from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from prefect_review_gate.gates.actions import Action
from prefect_review_gate.gates.votes import DecisionFields, Outcome, Vote

__all__ = ["Outcome", "ReviewDecision", "ReviewVerdict", "Vote"]


class ReviewDecision(DecisionFields, RunInput):
    """One reviewer's answer to one review, as the paused run's typed resume input.

    The fields are `DecisionFields`'; being a `RunInput` makes it the Prefect UI's resume form and
    has the server validate every resume against its schema.
    """


class ReviewVerdict(BaseModel):
    """What a review ended with: the outcome, the content it binds to, and every vote that counted."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    review_id: str
    outcome: Outcome
    content_hash: str
    actions: list[SerializeAsAny[Action]] = Field(
        description="The content decided on (edited content when it was edited)."
    )
    votes: list[Vote] = Field(default_factory=list)
    reason: str = ""
    flow_run_id: UUID | None = Field(
        default=None,
        description="The review's flow run: `commit` records each action's claim and outcome on it, where "
        "every host that runs the flow sees them. None: the flow run `commit` is called in.",
    )

    @property
    def approvers(self) -> list[str]:
        return [v.reviewer for v in self.votes if v.outcome is Outcome.APPROVED]
