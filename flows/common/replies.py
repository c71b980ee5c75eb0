"""Reading an agent's Messages API reply: what every agent checks before it reads its own tools.

A reply that is no message, or was cut off at `max_tokens`, is never an answer; a tool call whose
input does not fit the tool's schema is the model's error, said as one line. Both are `ModelError`s:
the run fails before anything is sent for review.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from prefect_review_gate.flows.common.errors import ModelError

__all__ = ["invalid_call", "tool_calls"]


def tool_calls(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The reply's `tool_use` blocks, in order.

    Raises:
        ModelError: the reply is not a Messages API message, or it was cut off at max_tokens.
    """
    if message.get("type") != "message" or not isinstance(message.get("content"), list):
        raise ModelError("the model's reply is not a Messages API message; nothing was sent for review")
    if message.get("stop_reason") == "max_tokens":
        raise ModelError(
            "the model's reply was cut off at max_tokens; raise REVIEW_GATE_ANTHROPIC_MAX_TOKENS and re-run"
        )
    return [b for b in message["content"] if isinstance(b, Mapping) and b.get("type") == "tool_use"]


@contextmanager
def invalid_call(name: object) -> Iterator[None]:
    """Reads a call to tool `name` inside; a `ValidationError` there becomes a one-line `ModelError`."""
    try:
        yield
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        raise ModelError(
            f"the model's {name} call is invalid: {where}: {first['msg']}; nothing was sent for review"
        ) from None
