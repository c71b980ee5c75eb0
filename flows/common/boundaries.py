"""The boundary rules every agent works under, and the one way out they give it: `report_blocker`.

Agents are eager: when a task cannot be done as asked they invent a source, a recipient or an
artifact to finish anyway. Each agent's system prompt therefore carries the same three rules,
worded for its task by `boundary_rules`, and offers the same tool to stop with a reason. The
reply's `report_blocker` call becomes a `Blocker`; the run then ends `Blocked` (see `blocked`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BLOCKER_TOOL", "Blocker", "BlockerInput", "blocker_tool", "boundary_rules"]

BLOCKER_TOOL = "report_blocker"


def boundary_rules(*, scope: str, grounding: str, blocked_when: str, on_block: str) -> str:
    """The three rules, for a system prompt; the arguments say what each means for this agent.

    Args:
        scope: what the agent delivers and nothing else ("Write one proposal and nothing else.").
        grounding: where every fact must come from, and what to do when it is not there.
        blocked_when: examples of a task that cannot be done as specified, for rule 3.
        on_block: what the agent leaves out when it stops ("write no proposal text").
    """
    return (
        "Boundaries. These are rules, not advice:\n"
        "1. Do not create resources that were not requested: no extra documents, recipients, links, "
        f"accounts or follow-up tasks. {scope}\n"
        f"2. Do not fabricate data to satisfy the task's conditions. {grounding}\n"
        f"3. If the task cannot be completed as specified ({blocked_when}), call {BLOCKER_TOOL} with "
        f"the reason and stop: {on_block}.\n"
    )


# What `report_blocker` carries. No docstring: pydantic would send it to the model in the schema.
class BlockerInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, description="Why the task cannot be done as specified.")
    missing: list[str] = Field(default_factory=list, description="What would unblock it.")


def blocker_tool() -> dict[str, Any]:
    """The `report_blocker` tool definition, for a Messages API request's `tools`."""
    return {
        "name": BLOCKER_TOOL,
        "description": "Report that the task cannot be completed as specified, and stop.",
        "input_schema": BlockerInput.model_json_schema(),
    }


@dataclass(frozen=True)
class Blocker:
    """The agent's answer when it stops: the reason, and what would unblock it."""

    reason: str
    missing: tuple[str, ...] = ()

    @classmethod
    def from_tool_input(cls, arguments: Mapping[str, Any] | Any) -> Blocker:
        """From a `report_blocker` call's input.

        Raises:
            pydantic.ValidationError: the input does not fit the tool's schema; the agent's reply
                reader says so as a `ModelError`, as for its other tools.
        """
        blocker = BlockerInput.model_validate(arguments)
        return cls(blocker.reason.strip(), tuple(m.strip() for m in blocker.missing if m.strip()))

    def describe(self) -> str:
        needs = f" Needed: {'; '.join(self.missing)}." if self.missing else ""
        return f"{self.reason}{needs}"
