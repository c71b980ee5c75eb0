"""The agent's answer as a proposal: the `validate-actions` document, and the actions put to review.

The agent names what it releases; the flow adds where it goes (repository, release index, remote)
and the release notes and test counts reviewers must see. Actions of a kind the task did not allow
(`git.create_repository`) stay in the document, where the validators flag them, but never become
actions under review: RENDER has no executor for them, so an approval could not run them anyway,
and the reviewer sees them in the findings with what they would have done.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prefect_review_gate.flows.common.errors import ModelError
from prefect_review_gate.flows.render.agent import ALLOWED_ACTIONS, ReleaseAnswer
from prefect_review_gate.flows.render.facts import BuildFacts
from prefect_review_gate.validators.actions import Action, parse_action, summarize
from prefect_review_gate.validators.errors import InputError
from prefect_review_gate.validators.findings import Finding

__all__ = ["Destinations", "Proposal", "release_proposal"]

_ACTION_POINTER = re.compile(r"^/actions/(?P<index>\d+)(?P<rest>/.*)?$")


@dataclass(frozen=True)
class Destinations:
    """Where an approved release goes, from the flow's parameters."""

    release_index: str  # a folder: the PEP 503 simple index the artifacts are copied into
    remote: str  # the repository `git.push` pushes to (a URL or a path)


@dataclass(frozen=True)
class Proposal:
    """The proposal document (task, actions, claims) and the allowed actions in release order."""

    document: dict[str, Any]
    actions: tuple[Action, ...]
    order: tuple[int, ...]  # the document index of each action under review

    def for_review(self, findings: Sequence[Finding]) -> list[Finding]:
        """Findings with pointers into the actions under review; those on left-out actions say so."""
        position = {old: new for new, old in enumerate(self.order)}
        moved = []
        for finding in findings:
            match = _ACTION_POINTER.match(finding.pointer or "")
            if match is None:
                moved.append(finding)
                continue
            old, rest = int(match["index"]), match["rest"] or ""
            if old in position:
                moved.append(finding.model_copy(update={"pointer": f"/actions/{position[old]}{rest}"}))
                continue
            action = self.document["actions"][old]
            summary = summarize(action)
            what = summary.headline + (f" {summary.destination.value}" if summary.destination else "")
            message = (
                f"{finding.message} The agent proposed: {what}. It is left out of the actions under "
                "review and cannot be committed."
            )
            update = {"pointer": f"/proposal/actions/{old}{rest}", "message": message}
            moved.append(finding.model_copy(update={**update, "evidence": json.dumps(action)}))
        return moved


def _completed(action: Mapping[str, Any], notes: str, facts: BuildFacts, to: Destinations) -> dict[str, Any]:
    # The flow's fields win over anything the agent wrote in their place: destinations are settings.
    ours: dict[str, dict[str, Any]] = {
        "git.tag": {"repository": facts.checkout.path, "message": notes},
        "release.publish": {
            "destination": to.release_index,
            "tests": f"{facts.tests.counts()} ({facts.tests.report})" if facts.tests else "",
        },
        "git.push": {"remote": to.remote},
    }
    return {**action, **ours.get(str(action.get("kind")), {})}


def release_proposal(answer: ReleaseAnswer, facts: BuildFacts, to: Destinations) -> Proposal:
    """The proposal of `answer` for this build.

    Raises:
        ModelError: an allowed action does not fit its kind (a missing digest, a malformed tag).
    """
    actions = [_completed(a, answer.release_notes, facts, to) for a in answer.actions]
    document = {
        "task": {
            "request": f"Release {facts.build.project} {facts.build.version} from {facts.checkout.commit}",
            "allowed_actions": list(ALLOWED_ACTIONS),
        },
        "actions": actions,
        "claims": list(answer.claims),
    }
    allowed = [i for i, a in enumerate(actions) if a.get("kind") in ALLOWED_ACTIONS]
    # Release order whatever the agent's: the tag exists before the push that carries it.
    order = tuple(sorted(allowed, key=lambda i: ALLOWED_ACTIONS.index(str(actions[i]["kind"]))))
    try:
        parsed = tuple(parse_action(actions[i]) for i in order)
    except InputError as exc:
        raise ModelError(f"the model proposed an {exc}; nothing was sent for review") from None
    if not parsed:
        raise ModelError("the model proposed no release action the task allows; nothing was sent for review")
    return Proposal(document, parsed, order)
