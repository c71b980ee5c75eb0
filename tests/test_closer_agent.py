"""CLOSER's agent without Prefect: the request carries the boundary rules and the deal's documents;
every reply is read into a proposal, a blocker, or a `ModelError` that stops the run before review."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from prefect_review_gate.flows.closer.agent import TOOL_KINDS, Proposal, build_request, read_reply
from prefect_review_gate.flows.common.boundaries import Blocker
from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.gates.actions import CreateContact, SendEmail, UpdateDeal

EXAMPLE = Path(__file__).parent.parent / "examples" / "closer"


def recorded(deal: str = "1001") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLE / f"deal-{deal}.json").read_text(encoding="utf-8"))
    return data


def test_the_request_holds_the_boundary_rules_the_documents_and_what_is_allowed() -> None:
    request = build_request(
        "1001", "Log a note.", ["crm.log_note"], {"deal-1001": "Deal 1001", "note-5003": "x"}
    )
    assert "Do not create resources that were not requested" in request["system"]
    assert "Do not fabricate data" in request["system"] and "report_blocker" in request["system"]
    assert {t["name"] for t in request["tools"]} == {*TOOL_KINDS, "report_blocker"}
    assert request["tool_choice"] == {"type": "any"}
    text = json.dumps(request["messages"])
    assert '<document id=\\"deal-1001\\">' in text and "log_note (crm.log_note)" in text
    assert "send_email (email.send)" not in text


def test_the_recorded_reply_becomes_typed_actions_in_order() -> None:
    proposal = read_reply(recorded(), "1001")
    assert isinstance(proposal, Proposal)
    kinds = [type(a) for a in proposal.actions]
    assert kinds[0] is UpdateDeal and CreateContact in kinds and SendEmail in kinds
    assert len(proposal.actions) == 5


def test_a_blocker_wins_over_anything_proposed_beside_it() -> None:
    reply = recorded()
    reply["content"].append(
        {
            "type": "tool_use",
            "id": "toolu_b",
            "name": "report_blocker",
            "input": {"reason": "No contract terms."},
        }
    )
    answer = read_reply(reply, "1001")
    assert isinstance(answer, Blocker) and answer.reason == "No contract terms."


def _broken(change: str) -> dict[str, Any]:
    reply = copy.deepcopy(recorded())
    if change == "cut-off":
        reply["stop_reason"] = "max_tokens"
    elif change == "no-tool":
        reply["content"] = [{"type": "text", "text": "I would update the deal."}]
    elif change == "unknown-tool":
        reply["content"][0]["name"] = "delete_deal"
    elif change == "bad-input":
        reply["content"][0]["input"] = {"deal_id": "1001"}  # no changes
    elif change == "extra-field":
        reply["content"][1]["input"]["before"] = {"stage": "x"}  # the agent may not write `before`
    elif change == "bad-blocker":
        reply["content"] = [{"type": "tool_use", "id": "t", "name": "report_blocker", "input": {}}]
    elif change == "not-a-message":
        reply = {"type": "error", "error": {"type": "api_error"}}
    return reply


@pytest.mark.parametrize(
    "change",
    ["cut-off", "no-tool", "unknown-tool", "bad-input", "extra-field", "bad-blocker", "not-a-message"],
)
def test_an_unusable_reply_raises_model_error(change: str) -> None:
    with pytest.raises(ModelError, match=r"max_tokens|nothing was sent for review"):
        read_reply(_broken(change), "1001")
