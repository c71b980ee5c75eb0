"""Runs paused in-process share one state poll: the API's load does not grow with the reviews open.

The flows talk to the real Prefect API through a byte-for-byte TCP relay that notes each HTTP
request line, so the test counts what the server is asked, not what the code says it asks.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from gate_helpers import EXECUTORS, WriteLine
from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_review_gate.gates import Outcome, ReviewPolicy, commit, request_review
from prefect_review_gate.gates.reviews import decide, list_pending

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

_REQUEST_LINE = re.compile(rb"(GET|POST|PATCH|PUT|DELETE) (/\S*) HTTP/1\.1\r\n")
_STATE_READ = re.compile(r"/api/flow_runs/(filter|[0-9a-f-]{36})$")
RUNS = 6
POLICY = ReviewPolicy(reviewers=["alice"], timeout=600)


@flow
async def paused_append(path: str, line: str) -> None:
    actions = [WriteLine(path=path, line=line)]
    verdict = await request_review(actions, policy=POLICY, requester="agent:test")
    await commit(verdict, actions, executors=EXECUTORS)


@contextmanager
def counting_relay(api_url: str) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A TCP relay in front of the API; yields its API URL and the (method, path) of each request.

    It runs on an event loop of its own: Prefect's engine makes some calls synchronously from the
    flows' loop, and a relay on that loop could not answer them.
    """
    target = urlsplit(api_url)
    seen: list[tuple[str, str]] = []

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, note: bool) -> None:
        try:
            while data := await source.read(65536):
                if note:
                    seen.extend((m[1].decode(), m[2].decode()) for m in _REQUEST_LINE.finditer(data))
                sink.write(data)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sink.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(asyncio.start_server(relay, "127.0.0.1", 0), loop).result(10)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{target.path}", seen
    finally:

        async def shut() -> None:
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


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
