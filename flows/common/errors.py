"""The agents' errors: a task the agent says it cannot do, and a model that cannot be used.

Both are `ReviewGateError`s (validators.errors draws the whole tree).
"""

from __future__ import annotations

from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["AgentBlocked", "ModelError", "ModelRefused"]


class AgentBlocked(ReviewGateError):
    """The agent reported a blocker instead of doing the task; nothing was sent for review.

    A first-class answer, not a crash: the run ends in a state named `Blocked` with the reason.
    """

    state_name = "Blocked"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModelError(ReviewGateError):
    """The model's API failed after its retries, or its reply cannot be used. Nothing was committed."""


class ModelRefused(AgentBlocked):
    """The model stopped with `stop_reason: "refusal"`: its safety classifiers declined the request.

    Ends the run `Blocked` like a blocker the agent reports, with the API's `stop_details`: the
    policy category (cyber, bio, ...) and its explanation, either of which may be absent.
    """

    def __init__(self, category: str | None, explanation: str | None) -> None:
        self.category = category
        self.explanation = explanation
        named = f" (category: {category})" if category else " (no category given)"
        said = f": {explanation}" if explanation else ""
        super().__init__(f"the model refused the request{named}{said}")
