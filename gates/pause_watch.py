"""Pausing a run in-process, with one state poll per process for all its paused runs.

Prefect's `apause_flow_run` polls `GET /flow_runs/{id}` once per interval for each paused run: a
worker process holding 50 reviews open sends 50 reads a second, and on a busy server those reads
are most of its requests (profiled under stack_bench: the largest endpoint by server time, ahead
of every write the gate makes). Here each run proposes its pause exactly as Prefect does (same
Paused state, same pause key, same run-input keyset and saved form), then waits on one watcher
per event loop that reads the state of every run it holds in one filter request, asking only for
those that are running again.

Nothing about the decision is read from the state: the gate reads the run's write-once input after
the wait (`ReviewStore.stored_decision`) and fails closed when there is none, as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from typing import Any, cast
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.context import AsyncClientContext
from prefect.exceptions import Abort, FlowPauseTimeout
from prefect.input.run_input import (
    AutomaticRunInput,
    RunInput,
    keyset_from_paused_state,
    run_input_subclass_from_type,
)
from prefect.states import Paused
from prefect.utilities.engine import propose_state

from prefect_review_gate.gates.store import ApiRequester
from prefect_review_gate.gates.store_client import open_api

__all__ = ["POLL_INTERVAL_SECONDS", "pause_in_process"]

_LOG = logging.getLogger("prefect_review_gate.gate")
POLL_INTERVAL_SECONDS = 0.5  # how soon a paused, in-process run notices it was resumed
_PAGE = 200  # the API's largest page of flow runs


async def pause_in_process(flow_run_id: UUID, form: type[Any], key: str, timeout: int) -> None:
    """Pause the run with `form` as its input schema; return once it runs again.

    Raises `FlowPauseTimeout` after `timeout` seconds still paused (Prefect's own behaviour) and
    RuntimeError when the server refuses the pause.
    """
    proposed: State[Any] = Paused(timeout_seconds=timeout, reschedule=False, pause_key=key)
    run_input: type[RunInput] | type[AutomaticRunInput[Any]] = run_input_subclass_from_type(form)
    keyset = keyset_from_paused_state(proposed)
    proposed.state_details.run_input_keyset = cast("dict[str, str]", keyset)
    async with get_client() as client:
        try:
            state = await propose_state(client=client, state=proposed, flow_run_id=flow_run_id)
        except Abort as exc:
            raise RuntimeError(f"Flow run cannot be paused: {exc}") from exc
        if state.is_running():
            return  # this pause key was resumed before (Prefect's replay): the input is stored
        if not state.is_paused():
            raise RuntimeError(f"Flow run cannot be paused. Received non-paused state from API: {state}")
        # The form the Prefect UI shows, and the server validates against. Only after the pause:
        # the server deletes whatever is stored under the keyset when a pause fires (Prefect 3.9,
        # HandlePausingFlows), so a resume in between is refused ("Run input schema not found")
        # and is retried (Slack's outbox) or reported as "not waiting" (the CLI).
        await run_input.asave(keyset)
    if not await _watcher().wait_running(flow_run_id, timeout):
        raise FlowPauseTimeout("Flow run was paused and never resumed.")


class _Watcher:
    """The runs paused in one event loop, and the one task that polls their states."""

    def __init__(self) -> None:
        self._waiting: dict[UUID, list[asyncio.Future[None]]] = {}
        self._polling = False  # set and cleared with no await in between from checking `_waiting`
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only weak references

    async def wait_running(self, flow_run_id: UUID, timeout: float) -> bool:
        """True once the run is running again; False when it is still not after `timeout`."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(flow_run_id, []).append(future)
        if not self._polling:
            self._polling = True
            # Not in this flow run's client context: its client closes when the run ends, and the
            # watcher outlives it while other runs wait. The poll opens a client of its own.
            context = contextvars.copy_context()
            context.run(AsyncClientContext.__var__.set, None)  # type: ignore[arg-type]
            self._task = asyncio.get_running_loop().create_task(self._poll(), context=context)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except TimeoutError:
            # Prefect's own last look before it fails the run.
            async with open_api() as api:
                return flow_run_id in await _running([flow_run_id], api)
        finally:
            futures = self._waiting.get(flow_run_id, [])
            if future in futures:
                futures.remove(future)
            if not futures:
                self._waiting.pop(flow_run_id, None)

    async def _poll(self) -> None:
        try:
            while self._waiting:
                try:
                    async with open_api() as api:
                        while self._waiting:
                            await asyncio.sleep(POLL_INTERVAL_SECONDS)
                            self._wake(await _running(list(self._waiting), api))
                except Exception as exc:  # a busy or unreachable server: the next poll tries again
                    _LOG.debug("Could not read paused runs' states (%s); polling again", type(exc).__name__)
                    await asyncio.sleep(POLL_INTERVAL_SECONDS)
        finally:
            self._polling = False  # no await since `_waiting` was last found empty (or a cancel)

    def _wake(self, running: set[UUID]) -> None:
        for flow_run_id in running:
            for future in self._waiting.pop(flow_run_id, []):
                if not future.done():
                    future.set_result(None)


async def _running(flow_run_ids: list[UUID], api: ApiRequester) -> set[UUID]:
    """Which of these runs are in a RUNNING state now: one filter request per 200 runs."""
    found: set[UUID] = set()
    for start in range(0, len(flow_run_ids), _PAGE):
        page = flow_run_ids[start : start + _PAGE]
        body = {
            "flow_runs": {
                "id": {"any_": [str(i) for i in page]},
                "state": {"type": {"any_": ["RUNNING"]}},
            },
            "limit": _PAGE,
        }
        response = await api.request("POST", "/flow_runs/filter", json=body)
        response.raise_for_status()
        found.update(UUID(run["id"]) for run in response.json())
    return found


# One watcher per event loop: a flow run's futures belong to the loop it runs on.
_WATCHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watcher] = weakref.WeakKeyDictionary()


def _watcher() -> _Watcher:
    loop = asyncio.get_running_loop()
    watcher = _WATCHERS.get(loop)
    if watcher is None:
        watcher = _WATCHERS[loop] = _Watcher()
    return watcher
