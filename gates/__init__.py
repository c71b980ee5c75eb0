"""The review gate: review requests, decisions, channels (Slack, Prefect UI, CLI) and commit.

Names are imported on first use (PEP 562), so `review-gate validate`, which lives in this package
but needs only the validators, starts without importing Prefect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_review_gate.gates.lazy import lazy_exports

if TYPE_CHECKING:
    from prefect_review_gate.gates.actions import (
        Action as Action,
        ActionSummary as ActionSummary,
        CreateContact as CreateContact,
        CreateRepository as CreateRepository,
        GitPush as GitPush,
        LogNote as LogNote,
        PublishRelease as PublishRelease,
        SendEmail as SendEmail,
        SummaryField as SummaryField,
        UpdateDeal as UpdateDeal,
        content_hash as content_hash,
        parse_action as parse_action,
    )
    from prefect_review_gate.gates.channels import ReviewChannel as ReviewChannel
    from prefect_review_gate.gates.commit import (
        CommitReport as CommitReport,
        commit as commit,
        outcome_state as outcome_state,
    )
    from prefect_review_gate.gates.decision import (
        ReviewDecision as ReviewDecision,
        ReviewVerdict as ReviewVerdict,
    )
    from prefect_review_gate.gates.errors import (
        ActionNotPerformed as ActionNotPerformed,
        ApiBusy as ApiBusy,
        CommitInterrupted as CommitInterrupted,
        ContentMismatch as ContentMismatch,
        DeliveryFailed as DeliveryFailed,
        ReviewClosed as ReviewClosed,
        ReviewExpired as ReviewExpired,
        ReviewRejected as ReviewRejected,
        RunNotWaiting as RunNotWaiting,
        UnauthorizedReviewer as UnauthorizedReviewer,
    )
    from prefect_review_gate.gates.executors import Executor as Executor, Executors as Executors
    from prefect_review_gate.gates.gate import request_review as request_review
    from prefect_review_gate.gates.ledger import ActionOutcome as ActionOutcome
    from prefect_review_gate.gates.policy import OnBlocking as OnBlocking, ReviewPolicy as ReviewPolicy
    from prefect_review_gate.gates.proofs import (
        DecisionIntake as DecisionIntake,
        DecisionSigner as DecisionSigner,
    )
    from prefect_review_gate.gates.request import (
        ReviewRecord as ReviewRecord,
        ReviewRequest as ReviewRequest,
        ReviewStatus as ReviewStatus,
    )
    from prefect_review_gate.gates.votes import Outcome as Outcome, Vote as Vote

_HOMES = {
    "prefect_review_gate.gates.actions": [
        "Action",
        "ActionSummary",
        "CreateContact",
        "CreateRepository",
        "GitPush",
        "LogNote",
        "PublishRelease",
        "SendEmail",
        "SummaryField",
        "UpdateDeal",
        "content_hash",
        "parse_action",
    ],
    "prefect_review_gate.gates.channels": ["ReviewChannel"],
    "prefect_review_gate.gates.commit": ["CommitReport", "commit", "outcome_state"],
    "prefect_review_gate.gates.decision": ["ReviewDecision", "ReviewVerdict"],
    "prefect_review_gate.gates.errors": [
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
    ],
    "prefect_review_gate.gates.executors": ["Executor", "Executors"],
    "prefect_review_gate.gates.gate": ["request_review"],
    "prefect_review_gate.gates.ledger": ["ActionOutcome"],
    "prefect_review_gate.gates.policy": ["OnBlocking", "ReviewPolicy"],
    "prefect_review_gate.gates.proofs": ["DecisionIntake", "DecisionSigner"],
    "prefect_review_gate.gates.request": ["ReviewRecord", "ReviewRequest", "ReviewStatus"],
    "prefect_review_gate.gates.votes": ["Outcome", "Vote"],
}

__all__, __getattr__ = lazy_exports(__name__, _HOMES, globals())
