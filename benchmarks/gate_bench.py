"""Benchmark of the review gate on a real Prefect server: decision latency and `review-gate pending`.

It starts its own `prefect server start` on a free loopback port, with a temporary PREFECT_HOME and
SQLite database, and stops it (and deletes the folder) at the end.

(a) Decision-to-running latency, pause path. 30 flows outside any deployment (three worker
    processes, ten concurrent flows each) pause at `request_review`. The benchmark decides each with
    `reviews.decide(...)` and measures from the moment it calls `decide` until the flow's code right
    after `request_review` runs again (the flow writes a timestamp there; both are this machine's
    wall clock). Twice, with 30 new flows each time: "one at a time" decides the next review once
    the previous run has committed, as people decide; "back to back" decides all 30 as fast as
    `decide` returns. Target: p95 <= 2 s, shown for each.

(b) `review-gate pending` with 300 open suspended reviews and no worker alive. 300 runs of a real
    deployment are executed by one process with Prefect's flow engine (what `prefect flow-run
    execute` runs, many runs per process instead of one) until each suspends at the gate; that
    process exits, and nothing serves the deployment. Then the real CLI runs as a subprocess,
    median of 5. Target (issue #3): median <= 1.5 s.

Run:  .venv/bin/python benchmarks/gate_bench.py [--paused 30] [--suspended 300] [--cli-runs 5]
It exits 0 whatever the figures (it measures, it does not gate), and 1 when it could not measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal
from uuid import UUID

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateName,
)
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_review_gate.gates import (
    Action,
    Executors,
    Outcome,
    ReviewPolicy,
    commit,
    request_review,
)
from prefect_review_gate.gates.pause_watch import POLL_INTERVAL_SECONDS
from prefect_review_gate.gates.reviews import PendingReview, decide, list_pending

TARGET_P95_SECONDS = 2.0
TARGET_PENDING_SECONDS = 1.5
REVIEWER = "bench-reviewer"
POLICY = ReviewPolicy(reviewers=[REVIEWER], timeout=3600)
PAUSED_PROCESSES = 3
SUSPEND_CONCURRENCY = 10  # flow runs the suspending process drives at once
SERVER_START_SECONDS = 120.0
HERE = Path(__file__).resolve()


# --- the gated flows ------------------------------------------------------------------------------


class BenchNote(Action):
    """Appends `line` to `path`: a real, countable side effect."""

    kind: Literal["bench.note"] = "bench.note"
    title: ClassVar[str] = "Append a benchmark note"
    path: str
    line: str


EXECUTORS = Executors()


@EXECUTORS.register("bench.note")
def _append(action: BenchNote, key: str) -> dict[str, str]:
    with open(action.path, "a", encoding="utf-8") as handle:
        handle.write(action.line + "\n")
    return {"key": key}


@flow(name="gate-bench-paused")
async def paused_review(tag: str, index: int, workdir: str) -> None:
    """Pause at the gate; right after the decision, write when the flow ran again."""
    actions = [BenchNote(path=str(Path(workdir) / "committed.txt"), line=f"{tag}-{index}")]
    verdict = await request_review(actions, policy=POLICY, requester="agent:bench")
    (Path(workdir) / f"resumed-{index}").write_text(repr(time.time()), encoding="utf-8")
    await commit(verdict, actions, executors=EXECUTORS)


@flow(name="gate-bench-suspended")
async def suspended_review(index: int, workdir: str) -> None:
    """From a deployment, the gate suspends the run: the process is free once the review is asked."""
    actions = [BenchNote(path=str(Path(workdir) / "committed.txt"), line=f"suspended-{index}")]
    verdict = await request_review(actions, policy=POLICY, requester="agent:bench")
    await commit(verdict, actions, executors=EXECUTORS)


# --- the server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_env(home: Path, api_url: str | None) -> dict[str, str]:
    """The environment of every process here: a throwaway Prefect home, quiet logs, no analytics."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_LOCAL_STORAGE_PATH": str(home / "storage"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "NO_COLOR": "1",
    }
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on a free loopback port; yields the API URL, stops the server after."""
    port = free_port()
    log = (home / "server.log").open("w", encoding="utf-8")
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    # A session of its own, so stopping it stops the uvicorn and service processes it starts too.
    server = subprocess.Popen(
        command, env=prefect_env(home, None), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        api = f"http://127.0.0.1:{port}/api"
        _wait_healthy(api, server, home / "server.log")
        yield api
    finally:
        _stop(server)
        log.close()


def _wait_healthy(api: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited with {server.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"prefect server not healthy after {SERVER_START_SECONDS:.0f} s: {_tail(log)}")


def _tail(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else "(no output)"


def _spawn(home: Path, api: str, *args: object) -> subprocess.Popen[bytes]:
    """This script again, as a worker process against the benchmark's server; output to workers.log.

    Prefect logs a suspended run as an error ("Finished in state Suspended"): expected here, so it
    goes to the log rather than the report.
    """
    command = [sys.executable, str(HERE), *map(str, args)]
    with (home / "workers.log").open("a", encoding="utf-8") as log:
        return subprocess.Popen(
            command, env=prefect_env(home, api), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def split_among(count: int, processes: int) -> list[tuple[int, int]]:
    """(first index, how many) for each worker process."""
    share = -(-count // processes)
    return [(first, min(share, count - first)) for first in range(0, count, share)]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started here, and its session, by id: SIGTERM, then SIGKILL."""
    if process.poll() is not None:
        # The leader is gone; whatever it left in its session goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --- (a) decision-to-running latency ------------------------------------------------------------

Mode = Literal["one at a time", "back to back"]
MODES: tuple[Mode, ...] = ("one at a time", "back to back")


@dataclass(frozen=True)
class Latency:
    mode: Mode
    seconds: list[float]  # one per review: decide() called -> flow code after the gate ran
    decide_seconds: list[float]  # how long each decide() call itself took
    committed: int  # lines the executors wrote: each approved action exactly once
    locked: int  # SQLite "database is locked" errors the server logged meanwhile

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        return _percentile(self.seconds, 0.95)


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: with 30 samples, p95 is the 29th smallest."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def measure_latency(api: str, home: Path, count: int, mode: Mode) -> Latency:
    """Pause `count` flows in worker processes, decide each, and time how soon each runs again.

    "one at a time" decides the next review once the previous run has committed, as people do;
    "back to back" decides all of them as fast as `decide` returns, a burst.
    """
    tag = "serial" if mode == "one at a time" else "burst"
    workdir = home / f"paused-{tag}"
    workdir.mkdir()
    workers = [
        _spawn(home, api, "--_paused-flows", tag, first, size, workdir)
        for first, size in split_among(count, PAUSED_PROCESSES)
    ]
    locked_before = locked_errors(home)
    try:
        with temporary_settings(updates={PREFECT_API_URL: api}):
            seconds, decide_seconds, committed = asyncio.run(_decide_all(workdir, tag, count, mode))
        for worker in workers:
            if worker.wait(120) != 0:
                raise RuntimeError(f"a paused-flow worker failed: {_tail(home / 'workers.log')}")
        return Latency(mode, seconds, decide_seconds, committed, locked_errors(home) - locked_before)
    finally:
        for worker in workers:
            _stop(worker)


async def _decide_all(
    workdir: Path, tag: str, count: int, mode: Mode
) -> tuple[list[float], list[float], int]:
    waiting = await wait_for_reviews(f"{tag}-", count)
    committed_file = workdir / "committed.txt"
    started: dict[int, float] = {}
    decide_seconds = []
    for done, (index, review) in enumerate(sorted(waiting.items()), start=1):
        started[index] = time.time()
        await decide(review.record.request.id, Outcome.APPROVED, REVIEWER)
        decide_seconds.append(time.time() - started[index])
        if mode == "one at a time":
            await wait_for_lines(committed_file, done)
    resumed = await _wait_for_stamps(workdir, count)
    committed = await wait_for_lines(committed_file, count)
    return [resumed[i] - started[i] for i in sorted(started)], decide_seconds, committed


def locked_errors(home: Path) -> int:
    """SQLite lock errors in the server's log so far: each made a client wait for a retry."""
    log = (home / "server.log").read_text(encoding="utf-8", errors="replace")
    return log.count("sqlite3.OperationalError: database is locked")


async def wait_for_reviews(prefix: str, count: int, timeout: float = 300) -> dict[int, PendingReview]:
    """Open reviews whose run waits, by the flow index in their action's line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {}
        for pending in await list_pending():
            line = str(pending.record.request.actions[0].get("line", ""))
            if pending.waiting and line.startswith(prefix):
                found[int(line.removeprefix(prefix))] = pending
        if len(found) == count:
            return found
        await asyncio.sleep(0.5)
    raise RuntimeError(f"only some of {count} reviews were waiting after {timeout:.0f} s")


async def _wait_for_stamps(workdir: Path, count: int, timeout: float = 120) -> dict[int, float]:
    """The time each flow ran again, by index, once all `count` have written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stamps = {}
        for path in workdir.glob("resumed-*"):
            text = path.read_text(encoding="utf-8")
            if text:  # written, not just created
                stamps[int(path.name.removeprefix("resumed-"))] = float(text)
        if len(stamps) == count:
            return stamps
        await asyncio.sleep(0.05)
    raise RuntimeError(f"not every flow ran again within {timeout:.0f} s of its decision")


async def wait_for_lines(path: Path, count: int, timeout: float = 120) -> int:
    """How many lines `path` holds once it holds `count`, or when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    lines = 0
    while time.monotonic() < deadline:
        lines = len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0
        if lines >= count:
            break
        await asyncio.sleep(0.05)
    return lines


def paused_flows_main(tag: str, first: int, count: int, workdir: str) -> None:
    """A worker process: run `count` gated flows concurrently, outside any deployment."""

    async def run_all() -> None:
        await asyncio.gather(*(paused_review(tag, index, workdir) for index in range(first, first + count)))

    asyncio.run(run_all())


# --- (b) `review-gate pending` over suspended reviews -----------------------------------------------


@dataclass(frozen=True)
class Pending:
    requested: int  # runs of the deployment created
    suspended: int  # of those, runs in a Suspended state when the CLI was timed
    suspend_seconds: float  # how long creating and running them until they suspended took
    cli_seconds: list[float]  # `review-gate pending`, whole process, each run
    listed: int  # rows the CLI printed
    api_seconds: float  # list_pending() alone, in this process: the API share of the CLI's time
    # CPU the CLI process used itself, each run: the rest of its wall time was the server's share,
    # or the machine's other work.
    cli_cpu_seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.cli_seconds)


def measure_pending(api: str, home: Path, count: int, runs: int) -> Pending:
    workdir = home / "suspended"
    workdir.mkdir()
    started = time.monotonic()
    with temporary_settings(updates={PREFECT_API_URL: api}):
        deployment_id, run_ids = asyncio.run(_deploy_and_schedule(count, workdir))
    ids_file = home / "suspend-runs.json"
    ids_file.write_text(json.dumps([str(run_id) for run_id in run_ids]), encoding="utf-8")
    suspender = _spawn(home, api, "--_suspend-runs", ids_file)
    try:
        if suspender.wait(timeout=3600) != 0:
            raise RuntimeError(f"the suspending process failed: {_tail(home / 'workers.log')}")
    finally:
        _stop(suspender)
    suspend_seconds = time.monotonic() - started
    with temporary_settings(updates={PREFECT_API_URL: api}):
        suspended = asyncio.run(_count_suspended(deployment_id))
        api_started = time.monotonic()
        asyncio.run(list_pending())
        api_seconds = time.monotonic() - api_started
    times, listed, cpu = _time_cli(api, home, runs)
    return Pending(count, suspended, suspend_seconds, times, listed, api_seconds, cpu)


async def _deploy_and_schedule(count: int, workdir: Path) -> tuple[UUID, list[UUID]]:
    """A real deployment of `suspended_review` and `count` scheduled runs of it.

    Nothing serves the deployment (no work pool, no runner). The runs are created up front: SQLite
    takes one writer at a time, and runs created while others execute make both wait on lock retries.
    """
    deployment = await suspended_review.ato_deployment(name="gate-bench")
    deployment_id = await deployment.aapply()
    async with get_client() as client:
        runs = [
            await client.create_flow_run_from_deployment(
                deployment_id, parameters={"index": index, "workdir": str(workdir)}
            )
            for index in range(count)
        ]
    return deployment_id, [run.id for run in runs]


def _time_cli(api: str, home: Path, runs: int) -> tuple[list[float], int, list[float]]:
    cli = Path(sys.executable).with_name("review-gate")
    times, listed, cpu = [], 0, []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = subprocess.run(
            [str(cli), "pending"], env=prefect_env(home, api), capture_output=True, text=True, timeout=120
        )
        times.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            raise RuntimeError(f"review-gate pending failed: {result.stderr.strip()}")
        listed = sum(1 for line in result.stdout.splitlines() if line.rstrip().endswith(" yes"))
    return times, listed, cpu


async def _count_suspended(deployment_id: UUID) -> int:
    runs = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
        state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Suspended"])),
    )
    async with get_client() as client:
        return await client.count_flow_runs(flow_run_filter=runs)


def suspend_runs_main(ids_file: Path) -> None:
    """The suspending process: run each scheduled run until the gate suspends it, then exit."""
    run_ids = [UUID(text) for text in json.loads(ids_file.read_text(encoding="utf-8"))]
    asyncio.run(_suspend_runs(run_ids))


async def _suspend_runs(run_ids: list[UUID]) -> None:
    async with get_client() as client:
        runs = [await client.read_flow_run(run_id) for run_id in run_ids]
    limit = asyncio.Semaphore(SUSPEND_CONCURRENCY)

    async def run_until_suspended(flow_run: FlowRun) -> None:
        async with limit:
            # Pause is how the engine says the gate suspended the run: this process is done with it.
            with contextlib.suppress(Pause):
                await run_flow(suspended_review, flow_run=flow_run, return_type="state")

    await asyncio.gather(*(run_until_suspended(run) for run in runs))


# --- report ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_report(latencies: Sequence[Latency], pending: Pending, paused: int) -> None:
    print(f"review gate benchmark: local `prefect server start` on SQLite, {os.cpu_count()} CPUs")
    processes = len(split_among(paused, PAUSED_PROCESSES))
    print(f"  (a) decision -> running: {paused} paused reviews per mode, flows in {processes} processes")
    print(f"      (a paused run checks for its decision every {POLL_INTERVAL_SECONDS} s)")
    for latency in latencies:
        decide_ms = statistics.median(latency.decide_seconds) * 1000
        print(
            f"      {latency.mode:<14} p50 {latency.p50:.2f} s, p95 {latency.p95:.2f} s, "
            f"max {max(latency.seconds):.2f} s; decide() median {decide_ms:.0f} ms; "
            f"{latency.committed}/{paused} committed once"
        )
        if latency.locked:
            print(
                f"      {'':<14} server log: {latency.locked} SQLite 'database is locked' errors, "
                "each a 503 that Prefect's client retries after ~2 s"
            )
    print(
        f"  (b) review-gate pending: {pending.suspended} of {pending.requested} runs of one deployment "
        "suspended at the gate, no worker alive"
    )
    print(
        "      (one process ran the deployment's runs with Prefect's flow engine until each suspended, "
        f"then exited; {pending.suspend_seconds:.0f} s)"
    )
    print(
        f"      CLI process    median {pending.median:.2f} s, min {min(pending.cli_seconds):.2f} s over "
        f"{len(pending.cli_seconds)} runs; {pending.listed} rows listed as waiting"
    )
    print(f"      list_pending() alone, in-process: {pending.api_seconds:.2f} s")
    for latency in latencies:
        ok = latency.p95 <= TARGET_P95_SECONDS and latency.committed == paused
        _target(f"decision -> running p95 <= {TARGET_P95_SECONDS:.0f} s, {latency.mode}", ok)
    complete = pending.listed == pending.suspended == pending.requested
    ok = pending.median <= TARGET_PENDING_SECONDS and complete
    _target(f"review-gate pending median <= {TARGET_PENDING_SECONDS:.1f} s", ok)


def _target(label: str, ok: bool) -> None:
    print(f"  target: {label} {'.' * max(3, 52 - len(label))} {verdict(ok)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--paused", type=int, default=30, help="paused reviews per latency mode")
    parser.add_argument("--suspended", type=int, default=300, help="suspended reviews for the CLI figure")
    parser.add_argument("--cli-runs", type=int, default=5, help="timed runs of review-gate pending")
    parser.add_argument(
        "--_paused-flows", nargs=4, metavar=("TAG", "FIRST", "COUNT", "DIR"), help=argparse.SUPPRESS
    )
    parser.add_argument("--_suspend-runs", type=Path, metavar="IDS_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._paused_flows:
        tag, first, count, workdir = args._paused_flows
        paused_flows_main(tag, int(first), int(count), workdir)
        return 0
    if args._suspend_runs:
        suspend_runs_main(args._suspend_runs)
        return 0
    home = Path(tempfile.mkdtemp(prefix="gate-bench-"))
    try:
        with prefect_server(home) as api:
            latencies = [measure_latency(api, home, args.paused, mode) for mode in MODES]
            pending = measure_pending(api, home, args.suspended, args.cli_runs)
        print_report(latencies, pending, args.paused)
        return 0
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"gate_bench: could not measure: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
