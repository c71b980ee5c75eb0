"""Prefect's own floor for approvals at once: N paused runs resumed together, with no gate at all.

What a Prefect server on this machine takes to accept a burst of resumes, each carrying an input
validated against the pause's schema (as a form answer or a gate decision is), with nothing else
asking it anything: no flow process, no review records, no Slack. A flow run is Running again the
moment its resume is accepted (the server sets the state in the same transaction), so no gate can
bring a run back faster than this; stack_bench prints it beside the gate's figures.

The runs are made through the REST API only (a flow, N runs set Running then Paused with a
pause key and an input schema, exactly the state `pause_flow_run` proposes), so setting up costs
seconds, not a flow process per run.

Run alone:  .venv/bin/python benchmarks/resume_floor.py --api http://127.0.0.1:4200/api [--count 100]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from prefect_review_gate.gates.review_api import BusyRetrying

PAUSE_KEY = "floor"
KEYSET = {k: f"paused-{PAUSE_KEY}-{k}" for k in ("description", "response", "schema")}
# About the size and shape of the gate's decision form: an enum, a name, a reason, a hash.
SCHEMA = {
    "title": "Decision",
    "type": "object",
    "properties": {
        "outcome": {"type": "string", "enum": ["approved", "rejected"]},
        "reviewer": {"type": "string", "minLength": 1},
        "comment": {"type": "string", "default": ""},
        "content_hash": {"type": "string", "default": ""},
    },
    "required": ["outcome", "reviewer"],
}
ANSWER = {"outcome": "approved", "reviewer": "floor", "content_hash": "0" * 64}


@dataclass(frozen=True)
class Floor:
    accepted: list[float]  # seconds from sending each resume to its accepted answer
    count: int
    refused: dict[str, int] = field(default_factory=dict)  # the server's answer -> how many

    def line(self) -> str:
        values = sorted(self.accepted)
        refused = ", ".join(f"{n} x {answer}" for answer, n in sorted(self.refused.items()))
        said = f" (refused: {refused})" if refused else ""
        if not values:
            return f"0/{self.count} accepted{said}"
        p95 = values[max(0, round(0.95 * len(values)) - 1)]
        return (
            f"{len(values)}/{self.count} accepted{said}; send -> Running p50 "
            f"{statistics.median(values):.2f} s, p95 {p95:.2f} s, max {values[-1]:.2f} s"
        )


async def paused_runs(api: httpx.AsyncClient, count: int) -> list[str]:
    """`count` flow runs paused as `pause_flow_run(wait_for_input=...)` leaves them."""
    flow = (await _post(api, "/flows/", {"name": "resume-floor"})).json()
    timeout = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    schema = json.dumps(SCHEMA)

    async def one(index: int) -> str:
        run = (await _post(api, "/flow_runs/", {"flow_id": flow["id"], "name": f"floor-{index}"})).json()
        base = f"/flow_runs/{run['id']}"
        await _set_state(api, base, {"type": "RUNNING", "name": "Running"})
        paused = {
            "type": "PAUSED",
            "name": "Paused",
            "state_details": {
                "pause_timeout": timeout,
                "pause_reschedule": False,
                "pause_key": PAUSE_KEY,
                "run_input_keyset": KEYSET,
            },
        }
        await _set_state(api, base, paused)
        await _post(api, f"{base}/input", {"key": KEYSET["schema"], "value": schema})
        return str(run["id"])

    ids: list[str] = []
    for start in range(0, count, 20):  # a few at a time: SQLite's writer lock
        ids += await asyncio.gather(*(one(i) for i in range(start, min(start + 20, count))))
    return ids


async def _post(api: httpx.AsyncClient, path: str, body: Any) -> httpx.Response:
    """POST while setting up, sent again while the server is busy, as the gate's own clients do
    (`BusyRetrying`): a SQLite server answers 503 while its writer lock is held (its own start-up
    work, just after it says it is ready)."""
    return (await BusyRetrying(api).request("POST", path, json=body)).raise_for_status()


async def _set_state(api: httpx.AsyncClient, base: str, state: dict[str, Any]) -> None:
    answer = await _post(api, f"{base}/set_state", {"state": state, "force": True})
    if answer.json().get("status") != "ACCEPT":
        raise RuntimeError(f"the server did not take {state['type']}: {answer.text[:200]}")


async def resume_all(api: httpx.AsyncClient, ids: Sequence[str]) -> Floor:
    """Resume every run at once: seconds from sending to each accepted answer, and what the
    server answered the others (not retried: a resume refused is part of the figure)."""

    async def one(flow_run_id: str) -> float | str:
        began = time.perf_counter()
        answer = await api.post(f"/flow_runs/{flow_run_id}/resume", json={"run_input": ANSWER})
        taken = time.perf_counter() - began
        if answer.status_code >= 300:
            return f"HTTP {answer.status_code}"
        status = str(answer.json().get("status"))
        return taken if status == "ACCEPT" else status

    results = await asyncio.gather(*(one(i) for i in ids))
    refused = collections.Counter(r for r in results if isinstance(r, str))
    return Floor([r for r in results if isinstance(r, float)], len(ids), dict(refused))


async def measure(api_url: str, count: int) -> Floor:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    async with httpx.AsyncClient(base_url=api_url, timeout=120, limits=limits) as api:
        ids = await paused_runs(api, count)
        await asyncio.sleep(1)  # the set-up's writes settle before the clock starts
        return await resume_all(api, ids)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--api", required=True, help="the Prefect API URL")
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args(argv)
    print(f"resume floor, {args.count} at once: {asyncio.run(measure(args.api, args.count)).line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
