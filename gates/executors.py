"""Executors: the code that performs one kind of action, run only by `commit`.

An executor gets the action and its idempotency key. The key is stable for this action of this
review and content, so an executor that talks to a system with idempotency support (an e-mail
Message-ID, an API's Idempotency-Key header) should pass it on: that closes the one window the
gate's own ledger cannot, a crash in the middle of the side effect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prefect_review_gate.gates.actions import Action
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["Executor", "executor", "executor_for", "executor_kinds", "register_executor"]

Executor = Callable[[Any, str], Any | Awaitable[Any]]
E = TypeVar("E", bound=Executor)
_EXECUTORS: dict[str, Executor] = {}


def register_executor(kind: str, run: Executor, *, replace: bool = False) -> None:
    """Register `run(action, idempotency_key)` for `kind`. Registering a kind twice is an error."""
    if kind in _EXECUTORS and not replace and _EXECUTORS[kind] is not run:
        raise ReviewGateError(f"an executor for {kind!r} is already registered; pass replace=True to swap it")
    _EXECUTORS[kind] = run


def executor(kind: str, *, replace: bool = False) -> Callable[[E], E]:
    """Decorator form of `register_executor`."""

    def register(run: E) -> E:
        register_executor(kind, run, replace=replace)
        return run

    return register


def executor_for(action: Action) -> Executor:
    try:
        return _EXECUTORS[action.kind]
    except KeyError:
        raise ReviewGateError(
            f"no executor is registered for {action.kind!r}; nothing was committed"
        ) from None


def executor_kinds() -> frozenset[str]:
    """The kinds this process can commit: those with a registered executor."""
    return frozenset(_EXECUTORS)
