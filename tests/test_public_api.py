"""The validators' public surface is pinned: removing or renaming a name must be a deliberate change."""

from __future__ import annotations

import inspect
import subprocess
import sys

import prefect_review_gate.gates as gates
import prefect_review_gate.validators as validators


def test_validators_all_is_pinned() -> None:
    assert sorted(validators.__all__) == sorted(
        [
            "Code", "CommitInterrupted", "ContentMismatch", "DeliveryFailed", "FabricationDetected",
            "Finding", "InputError", "ReviewClosed", "ReviewExpired", "ReviewGateError", "ReviewRejected",
            "Severity", "SourceDocument", "SourceError", "SourceLibrary", "UnauthorizedReviewer",
            "World", "has_blocking", "response_text", "validate_claude_citations", "validate_draft",
            "validate_proposal",
        ]
    )  # fmt: skip
    for name in validators.__all__:
        assert hasattr(validators, name)


def test_gates_all_is_pinned() -> None:
    assert sorted(gates.__all__) == sorted(
        [
            "Action", "ActionOutcome", "ActionSummary", "CommitReport", "CreateContact", "CreateRepository",
            "DecisionIntake", "DecisionSigner", "Executor", "Executors", "GitPush", "LogNote", "OnBlocking",
            "Outcome", "PublishRelease", "ReviewChannel", "ReviewDecision", "ReviewPolicy", "ReviewRecord",
            "SummaryField",
            "ReviewRequest", "ReviewStatus", "ReviewVerdict", "SendEmail", "UpdateDeal", "Vote", "commit",
            "content_hash", "outcome_state", "parse_action", "request_review",
        ]
    )  # fmt: skip
    for name in gates.__all__:
        assert getattr(gates, name) is not None, name


def test_executors_are_passed_to_commit_not_registered_globally() -> None:
    assert not {"executor", "register_executor"} & set(dir(gates))
    assert "executors" in inspect.signature(gates.commit).parameters


def test_every_error_is_a_review_gate_error() -> None:
    for name in validators.__all__:
        value = getattr(validators, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, validators.ReviewGateError), name


def test_validators_import_neither_prefect_nor_slack_nor_network_clients() -> None:
    code = (
        "import sys, prefect_review_gate.validators; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('prefect', 'slack_sdk', 'slack_bolt', 'anthropic', 'httpx', 'requests', 'urllib3')]; "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
