"""Reading an agent's Messages API reply: what every agent checks before it reads its own tools.

Each stop reason (platform docs, "Stop reasons") has its own outcome:

    tool_use                       the answer: its tool calls are read
    end_turn, stop_sequence        the model finished without a tool call: the agent decides (FORGE
                                   asks once more, forcing its tool; the others fail)
    refusal                        `ModelRefused`: the run ends Blocked with `stop_details`' category
                                   and explanation
    max_tokens,
    model_context_window_exceeded  truncated: `ModelError` before review
    pause_turn                     a server tool paused the turn; the agents use none, so `ModelError`

A reply that is no message is never an answer; a tool call whose input does not fit the tool's schema
is the model's error, said as one line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from prefect_review_gate.flows.common.errors import ModelError, ModelRefused

__all__ = ["FINISHED", "invalid_call", "stop_reason", "tool_calls"]

FINISHED = frozenset({"end_turn", "stop_sequence"})
"""Stop reasons of a reply the model ended itself, in prose, without calling a tool."""

_TRUNCATED = {
    "max_tokens": "was cut off at max_tokens; raise REVIEW_GATE_ANTHROPIC_MAX_TOKENS and re-run",
    "model_context_window_exceeded": (
        "was cut off at the model's context window; send fewer or shorter documents, or use a model "
        "with a larger window"
    ),
}


def stop_reason(message: Mapping[str, Any]) -> str:
    """The reply's stop reason, once it is known to be one an answer can come from.

    Returns `tool_use`, or one of `FINISHED` (the caller decides what prose without a tool is).

    Raises:
        ModelRefused: `stop_reason` is `refusal` (category and explanation from `stop_details`).
        ModelError: the reply is no message, was truncated, paused, or stopped for a reason unknown here.
    """
    if message.get("type") != "message" or not isinstance(message.get("content"), list):
        raise ModelError("the model's reply is not a Messages API message; nothing was sent for review")
    reason = message.get("stop_reason")
    if reason == "refusal":
        details = message.get("stop_details")
        details = details if isinstance(details, Mapping) else {}
        category, explanation = details.get("category"), details.get("explanation")
        raise ModelRefused(
            category if isinstance(category, str) else None,
            explanation if isinstance(explanation, str) else None,
        )
    if isinstance(reason, str) and reason in _TRUNCATED:
        raise ModelError(f"the model's reply {_TRUNCATED[reason]}; nothing was sent for review")
    if reason == "pause_turn":
        raise ModelError(
            "the model paused its turn (pause_turn), which only server tools do and this agent sends "
            "none; nothing was sent for review"
        )
    if reason == "tool_use" or reason in FINISHED:
        return str(reason)
    raise ModelError(
        f"the model stopped for a reason not handled here ({reason!r}); nothing was sent for review"
    )


def tool_calls(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The reply's `tool_use` blocks, in order (none when the model finished in prose).

    Raises:
        ModelRefused, ModelError: as `stop_reason`.
    """
    stop_reason(message)
    return [b for b in message["content"] if isinstance(b, Mapping) and b.get("type") == "tool_use"]


@contextmanager
def invalid_call(name: object) -> Iterator[None]:
    """Reads a call to tool `name` inside; a `ValidationError` there becomes a one-line `ModelError`."""
    try:
        yield
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        value = first.get("input")
        shown = "" if first["type"] == "missing" else f" (the value was {_shown(value)})"
        raise ModelError(
            f"the model's {name} call is invalid: {where}: {first['msg']}{shown}; nothing was sent for review"
        ) from None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"
