"""The boundary rules every agent shares, and FORGE built from them: no Prefect run needed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prefect_review_gate.flows.common.blocked import blocked_state
from prefect_review_gate.flows.common.boundaries import BLOCKER_TOOL, Blocker, blocker_tool, boundary_rules
from prefect_review_gate.flows.forge.agent import build_request, document_blocks
from prefect_review_gate.validators.errors import AgentBlocked

RULES = boundary_rules(
    scope="Propose one deal update.",
    grounding="Every value comes from the CRM snapshot.",
    blocked_when="the deal does not exist",
    on_block="propose no action",
)
# What every agent's prompt says the same way: the header and the opening of each rule.
OPENINGS = (
    "Boundaries. These are rules, not advice:\n",
    "\n1. Do not create resources that were not requested: ",
    "\n2. Do not fabricate data to satisfy the task's conditions. ",
    "\n3. If the task cannot be completed as specified (",
)


def test_the_rules_are_the_same_three_for_every_agent_worded_for_its_task() -> None:
    assert all(opening in RULES for opening in OPENINGS)
    assert "2. Do not fabricate data to satisfy the task's conditions. Every value comes from" in RULES
    assert (
        f"(the deal does not exist), call {BLOCKER_TOOL} with the reason and stop: propose no action.\n"
        in RULES
    )


def test_forge_asks_with_the_shared_rules_and_the_shared_blocker_tool() -> None:
    request = build_request("Propose X.", "Acme", document_blocks({"a": "text"}))
    assert all(opening in request["system"] for opening in OPENINGS)
    assert blocker_tool() in request["tools"]


def test_a_blocker_is_read_from_its_tool_input_and_refused_when_it_does_not_fit() -> None:
    blocker = Blocker.from_tool_input({"reason": " No rates. ", "missing": ["rate sheet ", " "]})
    assert blocker == Blocker("No rates.", ("rate sheet",))
    assert blocker.describe() == "No rates. Needed: rate sheet."
    with pytest.raises(ValidationError):
        Blocker.from_tool_input({"reason": "x", "extra": 1})
    with pytest.raises(ValidationError):
        Blocker.from_tool_input({"missing": []})


def test_a_blocked_run_ends_cancelled_named_blocked_with_the_reason() -> None:
    state = blocked_state(AgentBlocked("No rates."))
    assert state.is_cancelled() and state.name == "Blocked"
    assert state.message == "The agent reported a blocker: No rates."
