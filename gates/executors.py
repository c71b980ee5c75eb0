"""Executors: the code that performs one kind of action, handed to `commit` by the flow that owns it.

An executor gets the action and its idempotency key. The key is stable for this action of this
review and content, so an executor that talks to a system with idempotency support (an e-mail
Message-ID, an API's Idempotency-Key header) should pass it on: that closes the one window the
gate's own ledger cannot, a crash in the middle of the side effect.

There is no process-wide registry on purpose: two flows served by one worker may each have their
own `email.send`, and neither may take the other's over. Each flow builds its `Executors` and
passes them to `commit(..., executors=...)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from prefect_review_gate.gates.actions import Action
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["Executor", "Executors", "executors_for"]

Executor = Callable[[Any, str], Any | Awaitable[Any]]
E = TypeVar("E", bound=Executor)


class Executors(Mapping[str, Executor]):
    """The executors one flow commits with: action kind -> `run(action, idempotency_key)`.

    ```python
    EXECUTORS = Executors()

    @EXECUTORS.register("email.send")
    def send_email(action: SendEmail, idempotency_key: str) -> dict[str, str]: ...
    ```
    """

    def __init__(self, runs: Mapping[str, Executor] | None = None) -> None:
        self._runs: dict[str, Executor] = {}
        for kind, run in (runs or {}).items():
            self.add(kind, run)

    def add(self, kind: str, run: Executor) -> None:
        """Add `run` for `kind`.

        Raises:
            ReviewGateError: `kind` already has another executor here (build a second
                `Executors` for a flow that needs a different one).
        """
        if self._runs.get(kind, run) is not run:
            raise ReviewGateError(f"these executors already have one for {kind!r}")
        self._runs[kind] = run

    def register(self, kind: str) -> Callable[[E], E]:
        """Decorator form of `add`; returns the function unchanged."""

        def add(run: E) -> E:
            self.add(kind, run)
            return run

        return add

    def __getitem__(self, kind: str) -> Executor:
        return self._runs[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._runs)

    def __len__(self) -> int:
        return len(self._runs)

    def __repr__(self) -> str:
        return f"Executors({sorted(self._runs)})"


def executors_for(executors: Mapping[str, Executor], actions: Sequence[Action]) -> list[Executor]:
    """The executor of each action, in order, found for all of them before any runs.

    Raises:
        ReviewGateError: some action kinds have no executor; nothing was committed.
    """
    missing = sorted({action.kind for action in actions if action.kind not in executors})
    if missing:
        raise ReviewGateError(
            f"no executor is given for {', '.join(repr(kind) for kind in missing)}; nothing was committed"
        )
    return [executors[action.kind] for action in actions]
