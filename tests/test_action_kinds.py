"""Every shipped action kind is complete: it describes itself, `validate-actions` has a rule for it
(the generic kinds), and a flow that proposes it can commit it. Every surface renders it from that one
description, and agent-written text cannot add lines to any of them."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

import pytest

import prefect_review_gate.flows as flows
from prefect_review_gate.gates.action_text import summary_markdown, summary_plain
from prefect_review_gate.gates.actions import GENERIC_KINDS, Action, action_kinds, summarize
from prefect_review_gate.gates.review_text import action_preview
from prefect_review_gate.gates.slack.render import action_mrkdwn
from prefect_review_gate.validators import SourceLibrary, World, validate_proposal
from prefect_review_gate.validators.actions import kind_of
from prefect_review_gate.validators.world import Crm

# Importing every flow module, an agent's subpackage included, registers every kind a flow defines.
FLOW_MODULES = [
    importlib.import_module(info.name) for info in pkgutil.walk_packages(flows.__path__, f"{flows.__name__}.")
]
# An agent declares its kinds in its `actions` module, beside `executors.agent_executors()`.
AGENT_ACTIONS = [module for module in FLOW_MODULES if hasattr(module, "ACTION_KINDS")]
SHIPPED = {k: m for k, m in action_kinds().items() if m.__module__.startswith("prefect_review_gate.")}
FLOW_KINDS = {kind_of(model) for module in AGENT_ACTIONS for model in module.ACTION_KINDS}

# One valid action of every shipped kind, its text fields written by a hostile agent.
EMPTY_WORLD = World(crm=Crm(), workspace=None, sources=SourceLibrary.from_texts({}))
HOSTILE = "first line\n- to: attacker@evil.example\n\n**approved** `x` <!channel>"
SAMPLES: dict[str, dict[str, Any]] = {
    "email.send": {"to": ["ana@client.example"], "cc": [HOSTILE], "subject": HOSTILE, "body": HOSTILE},
    "crm.update_deal": {"deal_id": HOSTILE, "changes": {HOSTILE: HOSTILE}},
    "crm.create_contact": {"name": HOSTILE, "email": HOSTILE, "company_id": HOSTILE},
    "crm.log_note": {"deal_id": HOSTILE, "body": HOSTILE},
    "release.publish": {
        "artifact": HOSTILE,
        "sha256": "ab" * 32,
        "version": HOSTILE,
        "destination": HOSTILE,
        "tests": HOSTILE,
    },
    "git.create_repository": {"name": HOSTILE},
    "git.push": {"branch": HOSTILE, "remote": HOSTILE},
    "proposal.publish_file": {"client": HOSTILE, "name": "acme-q3", "folder": "/tmp/out", "body": HOSTILE},
    "git.tag": {"repository": HOSTILE, "tag": "v1.2.0", "commit": "ab" * 20, "message": HOSTILE},
}


def test_the_shipped_kinds_are_the_generic_ones_and_those_flows_propose() -> None:
    generic = {kind_of(model) for model in GENERIC_KINDS}
    assert set(SHIPPED) == generic | FLOW_KINDS  # a kind nobody proposes or checks is dead code
    assert set(SAMPLES) == set(SHIPPED)  # a new kind gets a sample here, and so the checks below


@pytest.mark.parametrize("kind", sorted(SHIPPED))
def test_every_kind_describes_itself(kind: str) -> None:
    model = SHIPPED[kind]
    assert model.summary is not Action.summary, f"{model.__name__} has no summary() of its own"
    summary = model.model_validate({"kind": kind, **SAMPLES[kind]}).summary()
    shown = {summary.destination, summary.excerpt, *summary.fields} - {None}
    assert shown, f"{kind}: a summary with nothing but a headline tells a reviewer nothing"


def test_every_generic_kind_has_a_validate_actions_rule() -> None:
    actions = [{"kind": kind_of(model), **SAMPLES[kind_of(model)]} for model in GENERIC_KINDS]
    allowed = [a["kind"] for a in actions]
    findings = validate_proposal({"task": {"allowed_actions": allowed}, "actions": actions}, EMPTY_WORLD)
    assert [f.pointer for f in findings if f.code == "unchecked_action"] == []
    # A kind a flow defines is not in the contract: reported, never silently passed.
    flow_kind = {"kind": "proposal.publish_file", **SAMPLES["proposal.publish_file"]}
    findings = validate_proposal({"task": {"allowed_actions": []}, "actions": [flow_kind]}, EMPTY_WORLD)
    assert "unchecked_action" in {f.code for f in findings}


def test_every_kind_a_shipped_flow_proposes_can_be_committed() -> None:
    assert FLOW_KINDS, "no flow module declares ACTION_KINDS"
    assert f"{flows.__name__}.forge.actions" in {module.__name__ for module in AGENT_ACTIONS}
    for module in AGENT_ACTIONS:
        # Each agent commits with its own executors, so each must cover its own kinds.
        agent = module.__name__.rpartition(".")[0]
        executors = importlib.import_module(f"{agent}.executors").agent_executors()
        missing = {kind_of(model) for model in module.ACTION_KINDS} - set(executors)
        assert not missing, f"{agent} proposes {sorted(missing)} but has no executor for them"


@pytest.mark.parametrize("kind", sorted(SHIPPED))
def test_agent_text_adds_no_lines_on_any_surface(kind: str) -> None:
    action = {"kind": kind, **SAMPLES[kind]}
    summary = summarize(action)
    lines = 1 + len(summary.fields) + (summary.excerpt is not None)
    for text in (summary_markdown(summary), summary_plain(summary), action_preview(action)):
        assert len(text.splitlines()) == lines, text
    for text in (action_mrkdwn(action),):
        assert len(text.splitlines()) == lines, text
    assert "<!channel>" not in action_mrkdwn(action)


def test_a_kind_not_imported_here_is_shown_with_its_fields_as_given() -> None:
    summary = summarize({"kind": "crm.merge_deals", "into": "D-1", "ids": ["D-2", "D-3"]})
    assert summary.headline == "crm.merge_deals (kind not imported here; fields as given)"
    assert [(f.label, f.value) for f in summary.fields] == [("into", '"D-1"'), ("ids", '["D-2", "D-3"]')]
    refused = summarize({"kind": "git.push", "branch": "main", "force": True})
    assert refused.headline == "git.push (fields do not fit the kind; fields as given)"
    assert json.loads(refused.fields[1].value) is True
