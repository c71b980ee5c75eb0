"""The one exception tree of prefect-review-gate.

It lives at the bottom layer (validators) so that every layer above can raise and catch the same
classes: validators <- gates <- flows.

    ReviewGateError
    ├── InputError                 input that cannot be read: a missing folder, a binary file, bad JSON
    │   └── SourceError            a source folder or document that cannot be used
    ├── FabricationDetected        blocking findings where policy says they end the review
    ├── UnauthorizedReviewer       a decision from someone the policy does not list
    ├── ReviewRejected             a reviewer rejected the request
    ├── ReviewExpired              nobody decided before the deadline
    └── DeliveryFailed             a channel (Slack, e-mail) could not be reached

Expected outcomes of validation are `Finding`s, never exceptions.
"""

from __future__ import annotations

__all__ = [
    "DeliveryFailed",
    "FabricationDetected",
    "InputError",
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


class ReviewRejected(ReviewGateError):
    """A reviewer rejected the request; nothing was committed."""


class ReviewExpired(ReviewGateError):
    """The review reached its deadline undecided; nothing was committed."""


class DeliveryFailed(ReviewGateError):
    """A notification channel could not deliver a message."""
