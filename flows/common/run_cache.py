"""Task results scoped to one flow run, so a run re-run after a suspend skips work it already did.

From a deployment the gate suspends the run and, once people decide, Prefect re-runs the flow body
from the top in a new process: an agent's model call and other work before the gate must come
back from persisted results (`persist_result=True` with this `cache_key_fn`), or the agent would
be asked again and its new answer would not be the one reviewed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from prefect.context import TaskRunContext

__all__ = ["CacheKeyFn", "run_scoped_key"]

CacheKeyFn = Callable[[TaskRunContext, dict[str, Any]], str]


def run_scoped_key(agent: str) -> CacheKeyFn:
    """A `cache_key_fn` for `agent`'s tasks: `<agent>-<task>-<flow run id>-<digest of the parameters>`."""

    def key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
        # Scoped to the flow run: a re-run after a suspend finds it, tomorrow's scheduled run does not.
        digest = hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()
        return f"{agent}-{context.task.name}-{context.task_run.flow_run_id}-{digest[:16]}"

    return key
