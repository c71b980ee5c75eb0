"""The gate on the stack teams run: a Prefect server on PostgreSQL (the commit ledger too), results on S3.

Needs `scripts/stack.sh up` (skipped without it, failed without it in CI: stack_helpers). The module
runs a Prefect server of its own on the stack's PostgreSQL, its result storage an `S3Bucket` block on
the stack's S3 server, and serves the durability tests' deployments (`gated_flows`) from a worker
process that knows the server and the block, nothing else: every side effect is a line in a file,
counted there. Every test runs twice: on a Prefect server of one process, and on one scaled out as
Prefect's docs scale it (two API processes, the background services in a process of their own,
Redis between them), where the events the gate emits reach the feed only through Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import gated_flows
import pytest
from gate_helpers import events_about, run_cli, serving_deployments
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.settings import PREFECT_API_URL, PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings
from prefect.states import Scheduled
from stack_helpers import StackPrefect, running_stack_or_skip

from prefect_review_gate.gates import Outcome
from prefect_review_gate.gates.commit import idempotency_key
from prefect_review_gate.gates.commit_log import action_prefix
from prefect_review_gate.gates.request import ReviewRecord, ReviewStatus
from prefect_review_gate.gates.reviews import decide, get_review

pytestmark = [pytest.mark.anyio, pytest.mark.stack]

TESTS = Path(__file__).parent
POLICY: dict[str, Any] = {"reviewers": ["alice", "bob", "carol"], "timeout": 600}
WAIT = 60.0  # seconds any one condition may take to come true (the machine is shared)
T = TypeVar("T")


@pytest.fixture(scope="module", params=[1, 2], ids=["one-api-process", "two-api-processes-on-redis"])
def on_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackPrefect]:
    """A Prefect server of this module's own on the stack's PostgreSQL, S3 as result storage."""
    running = running_stack_or_skip()
    server = StackPrefect(running, tmp_path_factory.mktemp("stack-prefect"), api_workers=request.param)
    try:
        settings = server.settings()
        with temporary_settings(
            updates={
                PREFECT_API_URL: settings["PREFECT_API_URL"],
                PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: settings["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"],
            }
        ):
            yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def served(on_stack: StackPrefect, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A worker process serving `gated_flows`' deployments; it knows only the API and the block."""
    log = tmp_path_factory.mktemp("stack-runner") / "runner.log"
    env = {
        **os.environ,
        **on_stack.settings(),
        "PREFECT_HOME": str(log.parent / "home"),  # its own: nothing shared with this process but the API
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p),
    }
    env.pop("PREFECT_LOCAL_STORAGE_PATH", None)
    code = "import gated_flows; gated_flows.serve_all()"
    deployments = (gated_flows.DEPLOYMENT,)
    with serving_deployments(code, deployments, env, log, cwd=TESTS.parent, wait=WAIT):
        yield log


# --- helpers ----------------------------------------------------------------------------------------


async def _poll(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = WAIT) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


async def _start(workdir: Path, line: str) -> UUID:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(gated_flows.DEPLOYMENT)
        run = await client.create_flow_run_from_deployment(
            deployment.id, parameters={"workdir": str(workdir), "line": line, "policy": POLICY}
        )
    return run.id


async def _read_run(run_id: UUID) -> FlowRun:
    async with get_client() as client:
        return await client.read_flow_run(run_id)


async def _suspended(run_id: UUID) -> ReviewRecord:
    """The run's review once the run is suspended waiting for its first decision."""

    async def probe() -> ReviewRecord | None:
        run = await _read_run(run_id)
        key = run.state.state_details.pause_key if run.state else None
        if run.state is None or run.state.name != "Suspended" or not key:
            return None
        return await get_review(key.rpartition("-")[0])

    return await _poll(probe, f"run {run_id} to suspend at the gate")


async def _final(run_id: UUID) -> FlowRun:
    async def probe() -> FlowRun | None:
        run = await _read_run(run_id)
        return run if run.state is not None and run.state.is_final() else None

    return await _poll(probe, f"run {run_id} to end")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


# --- the tests --------------------------------------------------------------------------------------


async def test_a_gated_run_on_postgres_with_s3_results_suspends_is_approved_and_commits_once(
    on_stack: StackPrefect, served: Path, tmp_path: Path
) -> None:
    run_id = await _start(tmp_path, "stack-line")
    record = await _suspended(run_id)
    assert _lines(tmp_path / "out.txt") == []

    code, out, err = await run_cli("pending", "--json", api=on_stack.api_url)
    assert code == 0, err
    listed = {r["id"]: r for r in json.loads(out)["reviews"]}
    assert listed[record.request.id]["waiting"] is True

    code, out, err = await run_cli("approve", record.request.id, "--as", "alice", api=on_stack.api_url)
    assert code == 0, err
    run = await _final(run_id)

    assert run.state is not None and run.state.is_completed(), run.state
    assert _lines(tmp_path / "out.txt") == ["stack-line"]
    assert (await get_review(record.request.id)).status is ReviewStatus.APPROVED
    # The work before the gate came back from S3 after the suspend; the commit's claim and outcome
    # are write-once inputs of the run on the PostgreSQL-backed server, which every host shares.
    assert int((tmp_path / "prepared").read_text()) == 1
    prefix = action_prefix(
        record.request.id, 0, idempotency_key(record.request.id, 0, record.request.content_hash)
    )
    async with get_client() as client:
        records = await client.filter_flow_run_input(
            flow_run_id=run_id, key_prefix=prefix, limit=10, exclude_keys=set()
        )
    assert {r.key.removeprefix(prefix) for r in records} == {"-claim-0", "-outcome"}
    # Emitted by the flow's process, published by the API, stored by the services (apart, on Redis).
    expected = {"review_gate.requested", "review_gate.approved", "review_gate.committed"}
    assert expected <= await events_about(run_id, timeout=WAIT)

    # Run it again from the top (the UI's Retry): the ledger on the server replays, nothing runs twice.
    async with get_client() as client:
        await client.set_flow_run_state(run_id, Scheduled(name="AwaitingRetry"), force=True)
    run = await _final(run_id)
    assert run.state is not None and run.state.is_completed(), run.state
    assert _lines(tmp_path / "out.txt") == ["stack-line"]


async def test_restarting_the_prefect_server_while_reviews_wait_loses_nothing(
    on_stack: StackPrefect, served: Path, tmp_path: Path
) -> None:
    lines = [f"restart-{i}" for i in range(5)]
    workdirs = {line: tmp_path / line for line in lines}
    for folder in workdirs.values():
        folder.mkdir()
    runs = {line: await _start(workdirs[line], line) for line in lines}
    reviews = {line: (await _suspended(runs[line])).request.id for line in lines}
    # One approved just before the crash: its run may be anywhere between resumed and committed.
    await decide(reviews["restart-0"], Outcome.APPROVED, "alice")

    on_stack.restart(kill=True)  # SIGKILL, then the same port again: PostgreSQL kept everything

    code, out, err = await run_cli("pending", "--json", api=on_stack.api_url)
    assert code == 0, err
    waiting = {r["id"] for r in json.loads(out)["reviews"] if r["waiting"]}
    assert waiting >= {reviews[line] for line in lines[1:]}
    # Every review still decidable, through the terminal and through the API.
    for line, reviewer in (("restart-1", "alice"), ("restart-2", "bob")):
        code, _, err = await run_cli("approve", reviews[line], "--as", reviewer, api=on_stack.api_url)
        assert code == 0, err
    code, _, err = await run_cli(
        "reject", reviews["restart-3"], "--as", "carol", "--reason", "no", api=on_stack.api_url
    )
    assert code == 0, err
    await decide(reviews["restart-4"], Outcome.APPROVED, "carol")

    finals = {line: await _final(runs[line]) for line in lines}

    for line in ("restart-0", "restart-1", "restart-2", "restart-4"):
        state = finals[line].state
        assert state is not None and state.is_completed(), (line, state)
        assert _lines(workdirs[line] / "out.txt") == [line]  # committed, once
    rejected = finals["restart-3"].state
    assert rejected is not None and rejected.type is StateType.CANCELLED and rejected.name == "Rejected"
    assert _lines(workdirs["restart-3"] / "out.txt") == []
    code, out, err = await run_cli("pending", "--json", api=on_stack.api_url)
    assert code == 0, err
    assert not {r["id"] for r in json.loads(out)["reviews"]} & set(reviews.values())
