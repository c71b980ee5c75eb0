"""The gate at scale, on SQLite and on the real stack (PostgreSQL, S3 results) in the same run.

Each part runs twice, once on a `prefect server start` with SQLite (gate_bench's server) and once on
a stack of its own (scripts/stack.py: PostgreSQL 15, a Prefect server on it, moto's S3 server as the
result storage block), started and removed by this script. Every figure is printed with the
machine's load average at that moment: the machine is shared, and a busy neighbour shows there.

(a) `review-gate pending` with `--suspended` (1,000) reviews suspended at the gate and no worker
    process alive: runs of a real deployment are run by Prefect's flow engine until each suspends
    (gate_bench.measure_pending), then the installed CLI runs as a new process, median of 5, and must
    list every one of them as waiting. Target: median <= 1.5 s, all listed.
(b) `--approvals` (100) approvals at once, Slack clicks and CLI mixed: 100 gated flows paused in two
    worker processes, each review posted to the tests' Slack fake; then half are approved by signed
    clicks to `review-gate serve`, the other half through the terminal's path (10 real `review-gate
    approve` processes, the rest the `reviews.decide` they run, in this process), all sent together.
    Latency runs from sending the click (starting the CLI process, calling decide) to the run's
    Running state on the server (the state Prefect and its UI show; its timestamp from the run's state
    history), and, printed beside it, to the flow's first line after the gate (the gate has then
    read the decision, saved the record and card, and updated Slack). Target on PostgreSQL: p95
    <= 2 s, and every action committed exactly once. Printed first: Prefect's own floor on the
    same server (resume_floor.py), the same number of bare resumes at once with no gate at all.

Run:  .venv/bin/python benchmarks/stack_bench.py [--suspended 1000] [--approvals 100]
          [--only sqlite|postgres|scaled ...]   (`scaled`: 2 API processes, services apart, Redis)
It exits 0 whatever the figures, 1 when it could not measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import resume_floor
from cpu_census import CpuCensus
from gate_bench import (
    EXECUTORS,
    BenchNote,
    Pending,
    measure_pending,
    prefect_env,
    prefect_server,
    wait_for_lines,
)
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from slack_bench import (
    REVIEWER,
    Connection,
    click,
    percentile,
    review_id_of,
    slack_env,
    start_server,
    stop,
    wait_for_messages,
    wait_for_stamps,
)

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "tests"))
sys.path.insert(0, str(REPOSITORY / "scripts"))
import stack  # noqa: E402
from slack_fake import SlackFake  # noqa: E402

from prefect_review_gate.gates import Outcome, ReviewPolicy, commit, request_review  # noqa: E402
from prefect_review_gate.gates.reviews import decide, get_review  # noqa: E402
from prefect_review_gate.gates.slack import configured_slack_channel  # noqa: E402

HERE = Path(__file__).resolve()
SLACK_BENCH = HERE.with_name("slack_bench.py")
TARGET_PENDING_SECONDS = 1.5
TARGET_RUNNING_P95 = 2.0
FLOW_PROCESSES = 2
START_SPACING = 0.2  # seconds between two flows a worker process starts
CLI_REVIEWER = "bench-cli"
CLI_PROCESSES = 10  # of the terminal's half, approvals sent by real `review-gate approve` processes
# Either a Slack click by UREVIEWER or the terminal's `approve --as bench-cli` decides.
MIXED_POLICY = ReviewPolicy(reviewers=[f"slack:{REVIEWER}", CLI_REVIEWER], timeout=3600)


@flow(name="stack-bench-paused")
async def mixed_review(index: int, workdir: str) -> None:
    """Pause at the gate, posted to Slack; write when the flow runs again; commit once."""
    actions = [BenchNote(path=str(Path(workdir) / "committed.txt"), line=f"slack-bench-{index}")]
    channel = configured_slack_channel(channel="CBENCH")
    verdict = await request_review(
        actions, policy=MIXED_POLICY, requester="agent:bench", channels=[channel] if channel else []
    )
    (Path(workdir) / f"resumed-{index}").write_text(repr(time.time()), encoding="utf-8")
    await commit(verdict, actions, executors=EXECUTORS)


def flows_main(first: int, count: int, workdir: str) -> None:
    async def started_after(delay: float, index: int) -> None:
        await asyncio.sleep(delay)
        await mixed_review(index, workdir)

    async def run_all() -> None:
        # Started a little apart: fifty flow runs created at once get SQLite's "database is locked"
        # past the client's retries, and the flow dies before its review is asked.
        await asyncio.gather(
            *(started_after(n * START_SPACING, i) for n, i in enumerate(range(first, first + count)))
        )

    asyncio.run(run_all())


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"[load {one:.2f} / {five:.2f}]"


@dataclass(frozen=True)
class Backend:
    """One Prefect server to measure: its API, a folder for logs, the settings its workers need."""

    name: str
    api: str
    home: Path
    worker_settings: dict[str, str]

    def env(self) -> dict[str, str]:
        return {**prefect_env(self.home, self.api), **self.worker_settings}


# The backends a run measures, by name: --only picks some; the scaled-out server only when asked.
BACKENDS = ("sqlite", "postgres", "scaled")
DEFAULT_BACKENDS = ("sqlite", "postgres")
SCALED_API_WORKERS = 2


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """`--only NAME`, repeatable: the backends a run measures (this script's and steady_bench's)."""
    parser.add_argument(
        "--only",
        action="append",
        choices=BACKENDS,
        help="a backend to measure (repeat for several; default sqlite and postgres; `scaled`: the "
        "stack's Prefect server with 2 API processes on Redis)",
    )


def backends(only: Sequence[str] | None) -> Iterator[Backend]:
    """Each backend named (default: SQLite's server and the stack's), in turn: started in a folder
    of its own when its turn comes, stopped and removed before the next starts, so that no idle
    server shares the machine with the one measured. `scaled` is the stack's Prefect server scaled
    out: SCALED_API_WORKERS API processes, its services apart, Redis between them (scripts/stack.py,
    `--api-workers`). Close the iterator (`contextlib.closing`) to stop the current one early."""
    names = only or DEFAULT_BACKENDS
    for name in (n for n in BACKENDS if n in names):
        with _started(name) as backend:
            yield backend


@contextmanager
def _started(name: str) -> Iterator[Backend]:
    home = Path(tempfile.mkdtemp(prefix=f"stack-bench-{name}-"))
    try:
        if name == "sqlite":
            with prefect_server(home) as api:
                yield Backend("SQLite", api, home, {})
            return
        workers = 1 if name == "postgres" else SCALED_API_WORKERS
        with stack.running_stack(home / "stack", api_workers=workers) as running:
            settings = running.env()
            label = "PostgreSQL" if workers == 1 else f"PG {workers} API"
            yield Backend(label, settings["PREFECT_API_URL"], home, settings)
    finally:
        shutil.rmtree(home, ignore_errors=True)


# --- (a) pending over 1,000 suspended reviews ---------------------------------------------------------


def report_pending(backend: Backend, pending: Pending, count: int) -> None:
    complete = pending.listed == pending.suspended == pending.requested == count
    ok = pending.median <= TARGET_PENDING_SECONDS and complete
    print(
        f"  (a) {backend.name:<10} review-gate pending, {pending.suspended}/{count} suspended, no worker: "
        f"median {pending.median:.2f} s, min {min(pending.cli_seconds):.2f} s, max "
        f"{max(pending.cli_seconds):.2f} s (its own CPU: median "
        f"{statistics.median(pending.cli_cpu_seconds):.2f} s); "
        f"{pending.listed} listed as waiting; list_pending() "
        f"in-process {pending.api_seconds:.2f} s; suspending took {pending.suspend_seconds:.0f} s "
        f"{load()}  target median <= {TARGET_PENDING_SECONDS} s, all listed: {'PASS' if ok else 'FAIL'}"
    )


# --- (b) approvals at once, Slack and CLI mixed -------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    slack_seconds: list[float]  # to the flow's first line after the gate, by way of approval
    cli_seconds: list[float]  # real `review-gate approve` processes, from their start
    decide_seconds: list[float]  # the CLI's path (reviews.decide) in this process
    running_seconds: list[float]  # to the run's Running state on the server, every approval
    committed: int
    count: int
    cpu: str  # who used the CPU from the first approval sent to the last action committed

    @property
    def all_seconds(self) -> list[float]:
        return self.slack_seconds + self.cli_seconds + self.decide_seconds


def measure_burst(backend: Backend, count: int) -> Burst:
    workdir = backend.home / "burst"
    workdir.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with SlackFake() as fake:
            env = {**backend.env(), **slack_env(fake)}
            server, url = start_server(env, backend.home / "serve.log")
            processes.append(server)
            share = -(-count // FLOW_PROCESSES)
            for first in range(0, count, share):
                command = [sys.executable, str(HERE), "--_flows", str(first), str(min(share, count - first))]
                with (backend.home / f"flows-{first}.log").open("wb") as log:
                    processes.append(
                        subprocess.Popen(
                            [*command, str(workdir)], env=env, stdout=log, stderr=subprocess.STDOUT
                        )
                    )
            with temporary_settings(updates={PREFECT_API_URL: backend.api}):
                return asyncio.run(
                    _unless_one_dies(_approve_all(url, fake, workdir, count, env), processes[1:], backend)
                )
    finally:
        for process in processes:
            stop(process)


async def _unless_one_dies(
    work: Coroutine[Any, Any, Burst], flows: Sequence[subprocess.Popen[bytes]], backend: Backend
) -> Burst:
    """`work`, or a RuntimeError as soon as a flow process fails (a flow that died never asks)."""
    task = asyncio.ensure_future(work)
    while not task.done():
        failed = [f for f in flows if f.poll() not in (None, 0)]
        if failed:
            task.cancel()
            logs = sorted(backend.home.glob("flows-*.log"))
            last = logs[0].read_text(errors="replace").strip().splitlines()[-1:] if logs else []
            raise RuntimeError(f"a flow process failed on {backend.name}: {' '.join(last)}")
        await asyncio.wait([task], timeout=1.0)
    return task.result()


async def _approve_all(url: str, fake: SlackFake, workdir: Path, count: int, env: dict[str, str]) -> Burst:
    """Half by Slack clicks; the other half through the terminal's path: a few real `review-gate
    approve` processes, the rest `reviews.decide` in this process (what `approve` runs once its
    imports are done). Fifty CLI processes starting at once on two cores would measure Python's
    import time, not the gate."""
    messages = await wait_for_messages(fake, range(count), timeout=600)
    by_slack = [i for i in range(count) if i % 2 == 0]
    by_cli = [i for i in range(count) if i % 2 == 1]
    processes, in_process = by_cli[:CLI_PROCESSES], by_cli[CLI_PROCESSES:]
    connections = [await Connection.open(url) for _ in by_slack]
    requests = [c.request(click(REVIEWER, messages[i])) for c, i in zip(connections, by_slack, strict=True)]
    cli = str(Path(sys.executable).with_name("review-gate"))

    def review_id(index: int) -> str:
        return review_id_of(messages[index])

    async def approve_in_terminal(index: int) -> float:
        started = time.time()
        process = await asyncio.create_subprocess_exec(
            cli, "approve", review_id(index), "--as", CLI_REVIEWER, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await process.wait()
        return started

    async def approve_in_process(index: int) -> float:
        started = time.time()
        await decide(review_id(index), Outcome.APPROVED, CLI_REVIEWER)
        return started

    census = CpuCensus()
    census.start()
    try:
        clicks = asyncio.gather(*(c.send(r) for c, r in zip(connections, requests, strict=True)))
        terminals = asyncio.gather(*(approve_in_terminal(i) for i in processes))
        decisions = asyncio.gather(*(approve_in_process(i) for i in in_process))
        sent, started, decided = await asyncio.gather(clicks, terminals, decisions)
    finally:
        for connection in connections:
            connection.close()
    stamps = await wait_for_stamps(workdir, range(count), timeout=600)
    committed = await wait_for_lines(workdir / "committed.txt", count, timeout=120)
    census.stop()
    await asyncio.sleep(2)  # a second commit of anything would land now
    lines = (workdir / "committed.txt").read_text(encoding="utf-8").splitlines()
    once = len(set(lines)) == len(lines) == committed
    sent_at = {
        **{i: s[2] for i, s in zip(by_slack, sent, strict=True)},
        **dict(zip(processes, started, strict=True)),
        **dict(zip(in_process, decided, strict=True)),
    }
    running = await running_again_at({i: messages[i] for i in sent_at})
    return Burst(
        slack_seconds=[stamps[i] - s[2] for i, s in zip(by_slack, sent, strict=True)],
        cli_seconds=[stamps[i] - s for i, s in zip(processes, started, strict=True)],
        decide_seconds=[stamps[i] - s for i, s in zip(in_process, decided, strict=True)],
        running_seconds=[running[i] - sent_at[i] for i in sent_at],
        committed=len(set(lines)) if once else -len(lines),
        count=count,
        cpu=census.line(),
    )


async def running_again_at(messages: dict[int, dict[str, object]]) -> dict[int, float]:
    """When each flow's run went from Paused back to Running, from its state history on the server."""
    found: dict[int, float] = {}
    async with get_client() as client:
        for index, message in messages.items():
            record = await get_review(review_id_of(message))
            states = sorted(
                await client.read_flow_run_states(record.request.flow_run_id), key=lambda s: s.timestamp
            )
            paused = next(n for n, s in enumerate(states) if s.is_paused())
            found[index] = next(s for s in states[paused:] if s.is_running()).timestamp.timestamp()
    return found


def report_burst(backend: Backend, burst: Burst) -> None:
    def figures(values: Sequence[float]) -> str:
        if not values:
            return "none sent this way"
        return (
            f"p50 {statistics.median(values):.2f} s, p95 {percentile(values, 0.95):.2f} s, "
            f"max {max(values):.2f} s"
        )

    once = burst.committed == burst.count
    ok = percentile(burst.running_seconds, 0.95) <= TARGET_RUNNING_P95 and once
    print(
        f"  (b) {backend.name:<10} {burst.count} approvals at once -> run Running: "
        f"{figures(burst.running_seconds)} {load()}"
    )
    print(f"      {'':<10} -> the flow's first line after the gate: all {figures(burst.all_seconds)}")
    print(f"      {'':<10} Slack clicks ({len(burst.slack_seconds)}): {figures(burst.slack_seconds)}")
    print(
        f"      {'':<10} review-gate approve ({len(burst.cli_seconds)} processes, from their start): "
        f"{figures(burst.cli_seconds)}"
    )
    print(
        f"      {'':<10} the CLI's decide() in-process ({len(burst.decide_seconds)}): "
        f"{figures(burst.decide_seconds)}"
    )
    committed = (
        f"{burst.committed}/{burst.count} committed once"
        if burst.committed >= 0
        else (f"DUPLICATES: {-burst.committed} lines for {burst.count} actions")
    )
    print(f"      {'':<10} from the first approval sent to the last commit: {burst.cpu}")
    print(
        f"      {'':<10} {committed}; target p95 <= {TARGET_RUNNING_P95:.0f} s, each once: "
        f"{'PASS' if ok else 'FAIL'}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--suspended", type=int, default=1000, help="suspended reviews for pending")
    parser.add_argument("--approvals", type=int, default=100, help="approvals sent at once")
    parser.add_argument("--cli-runs", type=int, default=5, help="timed runs of review-gate pending")
    add_backend_argument(parser)
    parser.add_argument("--skip", action="append", default=[], choices=("pending", "approvals"))
    parser.add_argument("--_flows", nargs=3, metavar=("FIRST", "COUNT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._flows:
        flows_main(int(args._flows[0]), int(args._flows[1]), args._flows[2])
        return 0
    print(
        f"stack benchmark: SQLite vs PostgreSQL + S3 (moto), {os.cpu_count()} CPUs, shared machine {load()}"
    )
    try:
        with contextlib.closing(backends(args.only)) as found:
            for backend in found:
                # Approvals first: they leave no review open, and pending must list only its own.
                if "approvals" not in args.skip:
                    floor = asyncio.run(resume_floor.measure(backend.api, args.approvals))
                    print(
                        f"  (b) {backend.name:<10} Prefect's floor, {args.approvals} bare resumes at once, "
                        f"no gate: {floor.line()} {load()}"
                    )
                    try:
                        report_burst(backend, measure_burst(backend, args.approvals))
                    except RuntimeError as exc:  # the other backend's figures still count
                        print(f"  (b) {backend.name:<10} could not measure: {exc} {load()}")
                if "pending" not in args.skip:
                    report_pending(
                        backend,
                        measure_pending(backend.api, backend.home, args.suspended, args.cli_runs),
                        args.suspended,
                    )
        return 0
    except (RuntimeError, subprocess.TimeoutExpired, OSError, stack.StackError) as exc:
        print(f"stack_bench: could not measure: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    sys.exit(main())
