"""The agents' errors: a task the agent says it cannot do, and a model that cannot be used.

Both are `ReviewGateError`s (validators.errors draws the whole tree).
"""

from __future__ import annotations

from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["AgentBlocked", "ModelError"]


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
