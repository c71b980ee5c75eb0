"""The Messages API fake for tests: the package's own (`flows.common.offline_model`), plus scripted replies.

The fake is the one the offline demo uses, so the tests exercise the demo's path too.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.common.offline_model import OFFLINE_KEY, MessagesFake, RecordedRequest, Reply

__all__ = [
    "EXAMPLE",
    "OFFLINE_KEY",
    "MessagesFake",
    "RecordedRequest",
    "Reply",
    "blocker_reply",
    "recorded",
    "refusal_reply",
    "untooled_reply",
]

EXAMPLE = Path(__file__).parent.parent / "examples" / "proposal"


def recorded() -> dict[str, Any]:
    """The bundled recorded reply: a cited proposal with planted fabrications, then submit_proposal."""
    data: dict[str, Any] = json.loads((EXAMPLE / "recorded_response.json").read_text(encoding="utf-8"))
    return data


def blocker_reply(reason: str) -> dict[str, Any]:
    """The agent stops: no proposal text, one report_blocker call."""
    reply = recorded()
    reply["content"] = [
        {
            "type": "tool_use",
            "id": "toolu_blocked",
            "name": "report_blocker",
            "input": {"reason": reason, "missing": ["the client's carrier volumes"]},
        }
    ]
    return reply


def untooled_reply() -> dict[str, Any]:
    """A well-formed message that answers in prose and never calls a tool: not a usable answer."""
    reply = copy.deepcopy(recorded())
    reply["content"] = [block for block in reply["content"] if block["type"] == "text"]
    reply["stop_reason"] = "end_turn"
    return reply


def refusal_reply(
    category: str | None = "cyber", explanation: str | None = "Declined by policy."
) -> dict[str, Any]:
    """A refusal as the API sends it: no content, `stop_reason: "refusal"` and `stop_details`."""
    reply = copy.deepcopy(recorded())
    reply["content"] = []
    reply["stop_reason"] = "refusal"
    reply["stop_details"] = {"type": "refusal", "category": category, "explanation": explanation}
    return reply
