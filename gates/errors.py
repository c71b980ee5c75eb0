"""The gate's errors: decisions that may not count, reviews that closed, commits that cannot run.

All are `ReviewGateError`s (validators.errors draws the whole tree). Each carries what a caller
needs beyond the message: `ReviewClosed.verdict` is the verdict the review ended with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_review_gate.validators.errors import ReviewGateError

if TYPE_CHECKING:
    from prefect_review_gate.gates.decision import ReviewVerdict

__all__ = [
    "ActionNotPerformed",
    "ApiBusy",
    "CommitInterrupted",
    "ContentMismatch",
    "DeliveryFailed",
    "ReviewClosed",
    "ReviewExpired",
    "ReviewRejected",
    "RunNotWaiting",
    "UnauthorizedReviewer",
]


class UnauthorizedReviewer(ReviewGateError):
    """A decision came from someone the decision rule does not let decide this review."""


class ReviewClosed(ReviewGateError):
    """A review ended without approval; nothing was committed. `verdict` is how it ended."""

    state_name = "Closed"

    def __init__(self, message: str, verdict: ReviewVerdict | None = None) -> None:
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
    """An action was started but its outcome was never recorded, or its record cannot be read.

    It is not run again, because it may have happened; a person must check and resolve it.
    """


class DeliveryFailed(ReviewGateError):
    """A notification channel could not deliver a message."""


class ActionNotPerformed(DeliveryFailed):
    """An executor's statement that its action did not happen, so a retry may run it.

    Only this clears the commit ledger's intent: any other exception out of an executor (a timeout
    after the e-mail left, a crash half-way) leaves the intent, and the action is not run again
    until a person resolves it (`review-gate commits resolve`). Raise it only where it is true:
    before the side effect started, or where running the action again cannot repeat it (the
    target deduplicates by the idempotency key, as the CRM and git executors do).
    """


class RunNotWaiting(ReviewGateError):
    """The review's run is not paused for a decision right now: it is counting another vote or
    resuming. Unlike other refusals this one passes; the same decision may be sent again shortly."""


class ApiBusy(ReviewGateError):
    """The Prefect API answered busy (503, 429, 502) through every retry; nothing was decided."""
