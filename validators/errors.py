"""The root of prefect-review-gate's one exception tree, and the validators' own errors.

Each error lives beside the code that raises it; all share one root, so a caller can catch
`ReviewGateError` for anything this package raises:

    ReviewGateError                validators.errors: the root
    ├── InputError                 validators.errors: input that cannot be read (a missing folder,
    │   │                          a binary file, bad JSON, a bad argument)
    │   └── SourceError            validators.errors: a source folder or document that cannot be used
    ├── UnauthorizedReviewer       gates.errors: the decision rule does not let this person decide
    ├── ReviewClosed               gates.errors: a review ended without approval; nothing committed
    │   ├── ReviewRejected         gates.errors: a reviewer (or the policy) rejected the request
    │   └── ReviewExpired          gates.errors: nobody decided before the deadline
    ├── ContentMismatch            gates.errors: content to commit is not the content approved
    ├── CommitInterrupted          gates.errors: an action's outcome is unknown; not run again
    ├── DeliveryFailed             gates.errors: a channel (Slack, e-mail) could not be reached
    │   └── ActionNotPerformed     gates.errors: an executor says its action did not happen
    ├── RunNotWaiting              gates.errors: the run is between two votes; send again shortly
    ├── ApiBusy                    gates.errors: the Prefect API stayed busy through the retries
    ├── AgentBlocked               flows.common.errors: the agent reported it cannot do the task
    │   └── ModelRefused           flows.common.errors: the model refused (stop_reason "refusal")
    └── ModelError                 flows.common.errors: the model's API failed, or its reply is unusable

Expected outcomes of validation are `Finding`s, never exceptions.
"""

from __future__ import annotations

__all__ = ["InputError", "ReviewGateError", "SourceError"]


class ReviewGateError(Exception):
    """Base of every error raised by prefect-review-gate."""


class InputError(ReviewGateError):
    """Input that cannot be read or parsed. The message is one line, written for a person."""


class SourceError(InputError):
    """A source folder or source document that cannot be used."""
