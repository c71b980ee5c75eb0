"""Runs paused in-process share one state poll: the API's load does not grow with the reviews open.

The flows talk to the real Prefect API through a byte-for-byte TCP relay (`http_relay`) that notes
each HTTP request line, so the test counts what the server is asked, not what the code says it asks.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from gate_helpers import EXECUTORS, WriteLine
from http_relay import counting_relay
from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_review_gate.gates import Outcome, ReviewPolicy, commit, request_review
from prefect_review_gate.gates.reviews import decide, list_pending

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

_STATE_READ = re.compile(r"/api/flow_runs/(filter|[0-9a-f-]{36})$")
RUNS = 6
POLICY = ReviewPolicy(reviewers=["alice"], timeout=600)


@flow
async def paused_append(path: str, line: str) -> None:
    actions = [WriteLine(path=path, line=line)]
    verdict = await request_review(actions, policy=POLICY, requester="agent:test")
    await commit(verdict, actions, executors=EXECUTORS)


async def _all_paused(lines: set[str], timeout: float = 90) -> list[str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        waiting = [
            p.record.request.id
            for p in await list_pending()
            if p.waiting and {a.get("line") for a in p.record.request.actions} & lines
        ]
        if len(waiting) == len(lines):
            return waiting
        await asyncio.sleep(0.3)
    raise AssertionError("not every run paused")


async def test_paused_runs_in_one_process_share_one_state_poll(tmp_path: Path, prefect_api: str) -> None:
    out = tmp_path / "side-effects.txt"
    lines = {f"watched-{n}" for n in range(RUNS)}
    with counting_relay(prefect_api) as (relay_url, seen):
        with temporary_settings(updates={PREFECT_API_URL: relay_url}):
            runs: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(paused_append(str(out), line, return_state=True))
                for line in sorted(lines)
            ]
        review_ids = await _all_paused(lines)  # read past the relay: not counted
        seen.clear()
        await asyncio.sleep(3)
        state_reads = [path for method, path in seen if _STATE_READ.search(path)]
        # Prefect's own pause read each run's state every second: six runs, ~18 reads in 3 s.
        # One poll per process every 0.5 s reads all six in one request.
        assert len(state_reads) <= 8, state_reads
        for review_id in review_ids:
            await decide(review_id, Outcome.APPROVED, "alice")
        states = await asyncio.wait_for(asyncio.gather(*runs), 90)
    assert all(s.is_completed() for s in states), states
    assert sorted(out.read_text().splitlines()) == sorted(lines)  # each action once
