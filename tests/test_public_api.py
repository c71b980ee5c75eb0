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
            "Code", "Finding", "InputError", "ReviewGateError", "Severity", "SourceDocument", "SourceError",
            "SourceLibrary", "World", "has_blocking", "response_text", "validate_claude_citations",
            "validate_draft", "validate_proposal",
        ]
    )  # fmt: skip
    for name in validators.__all__:
        assert hasattr(validators, name)


def test_gates_all_is_pinned() -> None:
    assert sorted(gates.__all__) == sorted(
        [
            "Action", "ActionNotPerformed", "ActionOutcome", "ActionSummary", "ApiBusy", "CommitInterrupted",
            "CommitReport",
            "ContentMismatch", "CreateContact", "CreateRepository", "DecisionIntake", "DecisionSigner",
            "DeliveryFailed", "Executor", "Executors", "GitPush", "LogNote", "OnBlocking", "Outcome",
            "PublishRelease", "ReviewChannel", "ReviewClosed", "ReviewDecision", "ReviewExpired",
            "RunNotWaiting",
            "ReviewPolicy", "ReviewRecord", "ReviewRejected", "ReviewRequest", "ReviewStatus",
            "ReviewVerdict", "SendEmail", "SummaryField", "UnauthorizedReviewer", "UpdateDeal", "Vote",
            "commit", "content_hash", "outcome_state", "parse_action", "request_review",
        ]
    )  # fmt: skip
    for name in gates.__all__:
        assert getattr(gates, name) is not None, name


def test_executors_are_passed_to_commit_not_registered_globally() -> None:
    assert not {"executor", "register_executor"} & set(dir(gates))
    assert "executors" in inspect.signature(gates.commit).parameters


def test_every_error_is_a_review_gate_error_and_each_is_exported_once() -> None:
    from prefect_review_gate.flows.common import errors as agent_errors

    homes = {"validators": validators, "gates": gates, "flows.common.errors": agent_errors}
    seen: dict[str, str] = {}
    for home, module in homes.items():
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, Exception):
                assert issubclass(value, validators.ReviewGateError), name
                assert name not in seen, f"{name} is exported by both {seen[name]} and {home}"
                seen[name] = home
    assert {"ReviewClosed", "AgentBlocked", "InputError"} <= set(seen)


def test_a_closed_review_carries_its_typed_verdict() -> None:
    verdict = gates.ReviewVerdict
    hints = inspect.get_annotations(
        gates.ReviewClosed.__init__, eval_str=True, globals={"ReviewVerdict": verdict}
    )
    assert hints["verdict"] == gates.ReviewVerdict | None


def test_validators_import_neither_prefect_nor_slack_nor_network_clients() -> None:
    code = (
        "import sys, prefect_review_gate.validators; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('prefect', 'slack_sdk', 'slack_bolt', 'anthropic', 'httpx', 'requests', 'urllib3')]; "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
