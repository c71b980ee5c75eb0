"""The review gate: review requests, decisions, channels (Slack, Prefect UI, CLI) and commit.

Names are imported on first use (PEP 562), so `review-gate validate`, which lives in this package
but needs only the validators, starts without importing Prefect.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_review_gate.gates.actions import (
        Action,
        ActionSummary,
        CreateContact,
        CreateRepository,
        GitPush,
        LogNote,
        PublishRelease,
        SendEmail,
        SummaryField,
        UpdateDeal,
        content_hash,
        parse_action,
    )
    from prefect_review_gate.gates.channels import ReviewChannel
    from prefect_review_gate.gates.commit import CommitReport, commit, outcome_state
    from prefect_review_gate.gates.decision import ReviewDecision, ReviewVerdict
    from prefect_review_gate.gates.executors import Executor, Executors
    from prefect_review_gate.gates.gate import request_review
    from prefect_review_gate.gates.ledger import ActionOutcome
    from prefect_review_gate.gates.policy import OnBlocking, ReviewPolicy
    from prefect_review_gate.gates.proofs import DecisionIntake, DecisionSigner
    from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest, ReviewStatus
    from prefect_review_gate.gates.votes import Outcome, Vote

_HOMES = {
    "Action": "prefect_review_gate.gates.actions",
    "ActionOutcome": "prefect_review_gate.gates.ledger",
    "ActionSummary": "prefect_review_gate.gates.actions",
    "DecisionIntake": "prefect_review_gate.gates.proofs",
    "DecisionSigner": "prefect_review_gate.gates.proofs",
    "CommitReport": "prefect_review_gate.gates.commit",
    "CreateContact": "prefect_review_gate.gates.actions",
    "CreateRepository": "prefect_review_gate.gates.actions",
    "Executor": "prefect_review_gate.gates.executors",
    "Executors": "prefect_review_gate.gates.executors",
    "GitPush": "prefect_review_gate.gates.actions",
    "LogNote": "prefect_review_gate.gates.actions",
    "OnBlocking": "prefect_review_gate.gates.policy",
    "Outcome": "prefect_review_gate.gates.votes",
    "PublishRelease": "prefect_review_gate.gates.actions",
    "ReviewChannel": "prefect_review_gate.gates.channels",
    "ReviewDecision": "prefect_review_gate.gates.decision",
    "ReviewPolicy": "prefect_review_gate.gates.policy",
    "ReviewRecord": "prefect_review_gate.gates.request",
    "ReviewRequest": "prefect_review_gate.gates.request",
    "ReviewStatus": "prefect_review_gate.gates.request",
    "ReviewVerdict": "prefect_review_gate.gates.decision",
    "SendEmail": "prefect_review_gate.gates.actions",
    "SummaryField": "prefect_review_gate.gates.actions",
    "UpdateDeal": "prefect_review_gate.gates.actions",
    "Vote": "prefect_review_gate.gates.votes",
    "commit": "prefect_review_gate.gates.commit",
    "content_hash": "prefect_review_gate.gates.actions",
    "outcome_state": "prefect_review_gate.gates.commit",
    "parse_action": "prefect_review_gate.gates.actions",
    "request_review": "prefect_review_gate.gates.gate",
}

__all__ = [
    "Action",
    "ActionOutcome",
    "ActionSummary",
    "CommitReport",
    "CreateContact",
    "CreateRepository",
    "DecisionIntake",
    "DecisionSigner",
    "Executor",
    "Executors",
    "GitPush",
    "LogNote",
    "OnBlocking",
    "Outcome",
    "PublishRelease",
    "ReviewChannel",
    "ReviewDecision",
    "ReviewPolicy",
    "ReviewRecord",
    "ReviewRequest",
    "ReviewStatus",
    "ReviewVerdict",
    "SendEmail",
    "SummaryField",
    "UpdateDeal",
    "Vote",
    "commit",
    "content_hash",
    "outcome_state",
    "parse_action",
    "request_review",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = importlib.import_module(_HOMES[name])
    # Every name of that module at once: importing `gates.commit` for `CommitReport` binds the
    # package's `commit` to the submodule, which would then shadow the function of that name.
    for other, other_home in _HOMES.items():
        if other_home == home.__name__:
            globals()[other] = getattr(home, other)
    return globals()[name]
