"""The one exception tree of prefect-review-gate.

It lives at the bottom layer (validators) so that every layer above can raise and catch the same
classes: validators <- gates <- flows.

    ReviewGateError
    ├── InputError                 input that cannot be read: a missing folder, a binary file, bad JSON
    │   └── SourceError            a source folder or document that cannot be used
    ├── FabricationDetected        blocking findings where policy says they end the review
    ├── UnauthorizedReviewer       a decision from someone the policy does not list
    ├── ReviewClosed               a review ended without approval; nothing was committed
    │   ├── ReviewRejected         a reviewer (or the policy) rejected the request
    │   └── ReviewExpired          nobody decided before the deadline
    ├── ContentMismatch            content to commit is not the content that was approved
    ├── CommitInterrupted          an action started but its outcome was never recorded
    ├── DeliveryFailed             a channel (Slack, e-mail) could not be reached
    ├── ApiBusy                    the Prefect API stayed busy (503, 429) through the retries
    ├── AgentBlocked               the agent reported that the task cannot be done as asked
    └── ModelError                 the model's API failed after retries, or its reply cannot be used

Expected outcomes of validation are `Finding`s, never exceptions.
"""

from __future__ import annotations

__all__ = [
    "AgentBlocked",
    "ApiBusy",
    "CommitInterrupted",
    "ContentMismatch",
    "DeliveryFailed",
    "FabricationDetected",
    "InputError",
    "ModelError",
    "ReviewClosed",
    "ReviewExpired",
    "ReviewGateError",
    "ReviewRejected",
    "SourceError",
    "UnauthorizedReviewer",
]


class ReviewGateError(Exception):
    """Base of every error raised by prefect-review-gate."""


class InputError(ReviewGateError):
    """Input that cannot be read or parsed. The message is one line, written for a person."""


class SourceError(InputError):
    """A source folder or source document that cannot be used."""


class FabricationDetected(ReviewGateError):
    """Blocking findings ended a review without asking anyone."""


class UnauthorizedReviewer(ReviewGateError):
    """A decision came from someone the review policy does not allow to decide."""


class ReviewClosed(ReviewGateError):
    """A review ended without approval. `verdict` holds the gate's verdict when there is one."""

    state_name = "Closed"

    def __init__(self, message: str, verdict: object | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict


class ReviewRejected(ReviewClosed):
    """A reviewer (or the policy) rejected the request; nothing was committed."""

    state_name = "Rejected"


class ReviewExpired(ReviewClosed):
    """The review reached its deadline undecided; nothing was committed."""

    state_name = "Expired"


class ContentMismatch(ReviewGateError):
    """The content to commit differs from the content the decision was made on."""


class CommitInterrupted(ReviewGateError):
    """An action was started but its outcome was never recorded (the process died mid-action).

    Also raised when the ledger's record of an action cannot be read: whether it ran is unknown.
    It is not run again, because it may have happened; a person must check and resolve it.
    """


class DeliveryFailed(ReviewGateError):
    """A notification channel could not deliver a message."""


class ApiBusy(ReviewGateError):
    """The Prefect API answered busy (503, 429, 502) through every retry; nothing was decided."""


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
