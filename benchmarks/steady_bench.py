"""Steady load: a review requested and decided every 100 ms for minutes, two workers, Slack clicks.

On SQLite (gate_bench's server) and on the stack (PostgreSQL, S3 results; stack_bench.backends) in
the same run. Two worker processes each start a gated flow (stack_bench.mixed_review, paused
in-process, posted to the tests' Slack fake) every `2 x --interval`, staggered, so that together
they ask for a review every `--interval` (100 ms). This process watches the fake's messages and the
states of their runs (from the run link in each message), and clicks Approve on each review as soon
as its run waits for the decision, through `review-gate serve`, signed as Slack signs.

Per window of `--window` seconds it prints: reviews decided, click -> flow running p50/p95/max, the
RSS of the `review-gate serve` process at the window's end, and the load average. No growth in
latency and a flat RSS are the targets: the last window's p95 within 1.5x of the first's (plus
0.5 s), and RSS growth under 20% from the second window to the last (the first holds warm-up).
Then every process's CPU over the load (cpu_census), and that divided by the reviews committed.

Printed first, per backend: Prefect's own floor for this rate on this machine, the same two workers
starting a bare flow (no gate, no review, one line written) every `--interval` for `--floor-seconds`:
how far each finished behind the time it was due. Where bare flows fall behind, gated ones must too.

Run:  .venv/bin/python benchmarks/steady_bench.py [--seconds 300] [--interval 0.1]
          [--only sqlite|postgres|scaled ...]
It exits 0 whatever the figures, 1 when it could not measure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import httpx
from cpu_census import CpuCensus
from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings
from slack_bench import (
    REVIEWER,
    Connection,
    click,
    percentile,
    resume_sent_after,
    review_id_of,
    slack_env,
    start_server,
    stop,
)
from stack_bench import Backend, add_backend_argument, backends, load, mixed_review

from prefect_review_gate.gates.review_api import ApiTarget, read_run_states

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from slack_fake import SlackFake

HERE = Path(__file__).resolve()
WORKERS = 2
LINE = re.compile(r"slack-bench-(\d+)")
RUN_LINK = re.compile(r"flow-run/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
SAMPLED = 20  # reviews per window whose click -> decision sent share is read back


@flow(name="steady-bench-bare")
async def bare_flow(index: int, due: float, workdir: str) -> None:
    """Prefect's floor: a flow run with nothing in it but the line that says when it ran."""
    (Path(workdir) / f"bare-{index}").write_text(f"{due!r} {time.time()!r}", encoding="utf-8")


def worker_main(worker: int, seconds: float, interval: float, workdir: str, bare: bool = False) -> None:
    """A worker process: start a gated (or bare) flow every WORKERS x interval, offset by its number."""

    async def run() -> None:
        began = time.monotonic() + worker * interval
        wall = time.time() - time.monotonic()  # monotonic -> wall-clock time
        tasks = []
        step = 0
        while (due := began + step * WORKERS * interval) < began + seconds:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            index = step * WORKERS + worker
            started = bare_flow(index, wall + due, workdir) if bare else mixed_review(index, workdir)
            tasks.append(asyncio.create_task(started))
            step += 1
        await asyncio.wait(tasks, timeout=300)

    asyncio.run(run())


def measure_floor(backend: Backend, seconds: float, interval: float) -> str:
    """Bare flows at the same rate from two workers: a line of how far behind they finished."""
    workdir = backend.home / "steady-floor"
    workdir.mkdir()
    processes = []
    try:
        for worker in range(WORKERS):
            command = [sys.executable, str(HERE), "--_bare", str(worker), str(seconds), str(interval)]
            with (backend.home / f"steady-floor-{worker}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [*command, str(workdir)], env=backend.env(), stdout=log, stderr=subprocess.STDOUT
                    )
                )
        for process in processes:
            process.wait(seconds + 360)
    finally:
        for process in processes:
            stop(process)
    lags = []
    for stamp in workdir.glob("bare-*"):
        due, ran = (float(v) for v in stamp.read_text().split())
        lags.append(ran - due)
    asked = int(seconds / interval)
    if not lags:
        return f"0/{asked} bare flows ran {load()}"
    return (
        f"{len(lags)}/{asked} bare flows ran; due -> ran p50 {statistics.median(lags):.2f} s, "
        f"p95 {percentile(lags, 0.95):.2f} s, max {max(lags):.2f} s {load()}"
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    server_part: list[float] = field(default_factory=list)  # click -> decision sent by serve, sampled
    rss_kib: int = 0
    load: str = ""


async def drive(
    url: str,
    backend_api: str,
    fake: SlackFake,
    workdir: Path,
    seconds: float,
    interval: float,
    window: float,
    serve_pid: int,
) -> list[Window]:
    """Click each new review's Approve at once; collect latencies by the window the click fell in."""
    clicked: set[str] = set()
    sent_at: dict[int, float] = {}
    messages: dict[int, dict[str, object]] = {}
    windows = [Window() for _ in range(int(seconds // window) + 1)]
    samples: list[tuple[int, str]] = []  # serve's RSS and the load at the end of each window
    began = time.time()
    connection = await Connection.open(url)
    api = ApiTarget(backend_api).client()
    try:
        while time.time() < began + seconds + 180:
            # As a reviewer would: a review's buttons are clicked once its run waits for the
            # decision. A click before that is queued by serve and tried again with backoff.
            # Asked of the runs not clicked yet only, in one request: listing every open review
            # (`review-gate pending`) each turn was load no Slack reviewer puts on the server,
            # and it grew with the backlog it was measuring.
            unclicked = [
                m
                for m in fake.messages()
                if str(m.get("ts")) not in clicked and LINE.search(str(m.get("blocks")))
            ]
            for message in await waiting_now(api, unclicked):
                found = LINE.search(str(message.get("blocks")))
                assert found is not None
                clicked.add(str(message.get("ts")))
                try:
                    _, status, sent = await connection.send(connection.request(click(REVIEWER, message)))
                except (IndexError, ConnectionError):  # serve closed the idle keep-alive connection
                    connection.close()
                    connection = await Connection.open(url)
                    _, status, sent = await connection.send(connection.request(click(REVIEWER, message)))
                if status == 200:
                    sent_at[int(found.group(1))] = sent
                    messages[int(found.group(1))] = message
            if time.time() >= began + (len(samples) + 1) * window:
                samples.append((rss_kib(serve_pid), load()))
            if len(sent_at) >= int(seconds / interval) and _all_stamped(workdir, sent_at):
                break
            await asyncio.sleep(0.1)
    finally:
        connection.close()
        await api.aclose()
    for index, sent in sent_at.items():
        stamp = workdir / f"resumed-{index}"
        if stamp.exists() and stamp.read_text():
            slot = min(int((sent - began) // window), len(windows) - 1)
            windows[slot].latencies.append(float(stamp.read_text()) - sent)
            if len(windows[slot].server_part) < SAMPLED:  # one API read each: a sample is enough
                part = await resume_sent_after({index: messages[index]}, {index: sent})
                windows[slot].server_part += [s for s in part if s == s]  # NaN: not found
    for measured, (rss, machine) in zip(windows, samples, strict=False):
        measured.rss_kib, measured.load = rss, machine
    return [w for w in windows if w.latencies]


async def waiting_now(api: httpx.AsyncClient, messages: list[dict[str, object]]) -> list[dict[str, object]]:
    """Those of `messages` whose run waits for their review's decision now."""
    runs: dict[UUID, tuple[str, dict[str, object]]] = {}
    for message in messages:
        run = RUN_LINK.search(str(message.get("blocks")))
        if run is None:
            raise RuntimeError(f"a review message links no flow run: {message.get('text')!r}")
        runs[UUID(run.group(1))] = (review_id_of(message), message)
    try:
        states = await read_run_states(api, list(runs))
    except httpx.HTTPError as exc:  # a server this busy is a figure, not the end of the run
        print(f"      (the waiting runs could not be read: {type(exc).__name__}) {load()}")
        return []
    return [
        message
        for run_id, (review_id, message) in runs.items()
        if (state := states.get(run_id)) and state.waits_for(review_id)  # as `review-gate pending` judges
    ]


def _all_stamped(workdir: Path, sent_at: dict[int, float]) -> bool:
    return all((workdir / f"resumed-{i}").exists() for i in sent_at)


def measure(
    backend: Backend, seconds: float, interval: float, window: float
) -> tuple[list[Window], int, CpuCensus]:
    workdir = backend.home / "steady"
    workdir.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    census = CpuCensus()
    try:
        with SlackFake() as fake:
            env = {**backend.env(), **slack_env(fake)}
            server, url = start_server(env, backend.home / "steady-serve.log")
            processes.append(server)
            census.start()
            for worker in range(WORKERS):
                command = [sys.executable, str(HERE), "--_worker", str(worker), str(seconds), str(interval)]
                with (backend.home / f"steady-worker-{worker}.log").open("wb") as log:
                    processes.append(
                        subprocess.Popen(
                            [*command, str(workdir)], env=env, stdout=log, stderr=subprocess.STDOUT
                        )
                    )
                census.name(processes[-1].pid, "flow processes")
            with temporary_settings(updates={PREFECT_API_URL: backend.api}):
                windows = asyncio.run(
                    drive(url, backend.api, fake, workdir, seconds, interval, window, server.pid)
                )
            census.stop()
        committed = workdir / "committed.txt"
        lines = committed.read_text().splitlines() if committed.exists() else []
        return windows, len(lines) if len(set(lines)) == len(lines) else -len(lines), census
    finally:
        for process in processes:
            stop(process)


def report(
    backend: Backend,
    windows: Sequence[Window],
    committed: int,
    census: CpuCensus,
    seconds: float,
    interval: float,
) -> None:
    asked = int(seconds / interval)
    print(
        f"  (c) {backend.name}: a review every {interval * 1000:.0f} ms for {seconds:.0f} s, "
        f"{WORKERS} workers ({asked} asked), approved by Slack clicks through review-gate serve"
    )
    for number, window in enumerate(windows):
        values = window.latencies
        print(
            f"      window {number + 1:>2}: {len(values):>4} decided, click -> running p50 "
            f"{statistics.median(values):.2f} s, p95 {percentile(values, 0.95):.2f} s, "
            f"max {max(values):.2f} s (click -> decision sent p50 {_median(window.server_part)}); "
            f"serve RSS {window.rss_kib / 1024:.0f} MiB {window.load}"
        )
    decided = sum(len(w.latencies) for w in windows)
    first, last = percentile(windows[0].latencies, 0.95), percentile(windows[-1].latencies, 0.95)
    flat_latency = last <= 1.5 * first + 0.5
    sized = [w.rss_kib for w in windows[1:] if w.rss_kib] or [w.rss_kib for w in windows]
    flat_rss = bool(sized) and sized[-1] <= 1.2 * sized[0]
    if committed and census.by_role:
        # What one review costs the machine (the Prefect server, its database, S3, the flows,
        # serve; not this benchmark, which plays Slack and the reviewer), and so the rate its cores
        # can carry at most.
        harness = ("this benchmark (clicks, decide())", "other")
        product = sum(v for role, v in census.by_role.items() if role not in harness) / abs(committed)
        api = sum(v for role, v in census.by_role.items() if role.startswith("Prefect")) / abs(committed)
        cores = os.cpu_count() or 1
        print(
            f"      CPU from the first worker's start to the last click's run: {census.line()}\n"
            f"      per review committed: {product * 1000:.0f} ms of the gate's and Prefect's CPU "
            f"({api * 1000:.0f} ms Prefect's server), so {cores} cores carry at most "
            f"{cores / product:.1f} reviews/s"
            + (
                ""
                if abs(committed) == asked
                else f" (overstated: {asked - abs(committed)} reviews asked for used CPU and were not "
                "committed by the end; read it from a rate that kept up)"
            )
        )
    once = "WITH DUPLICATES" if committed < 0 else "once each"
    print(
        f"      {decided}/{asked} decided, {abs(committed)} committed {once}; "
        f"latency growth p95 {first:.2f} -> {last:.2f} s: {'PASS' if flat_latency else 'FAIL'}; "
        f"serve RSS {sized[0] / 1024:.0f} -> {sized[-1] / 1024:.0f} MiB: {'PASS' if flat_rss else 'FAIL'}"
    )


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f} s" if values else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=300.0, help="how long reviews keep coming")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between two reviews")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per reported window")
    add_backend_argument(parser)
    parser.add_argument("--floor-seconds", type=float, default=60.0, help="how long bare flows keep coming")
    for hidden in ("--_worker", "--_bare"):
        parser.add_argument(
            hidden, nargs=4, metavar=("N", "SECONDS", "INTERVAL", "DIR"), help=argparse.SUPPRESS
        )
    args = parser.parse_args(argv)
    if args._worker or args._bare:
        number, seconds, interval, workdir = args._worker or args._bare
        worker_main(int(number), float(seconds), float(interval), workdir, bare=bool(args._bare))
        return 0
    print(f"steady load benchmark: SQLite vs PostgreSQL + S3 (moto), {os.cpu_count()} CPUs {load()}")
    try:
        with contextlib.closing(backends(args.only)) as found:
            for backend in found:
                if args.floor_seconds > 0:
                    floor = measure_floor(backend, args.floor_seconds, args.interval)
                    print(
                        f"  (c) {backend.name}: Prefect's floor, a bare flow every "
                        f"{args.interval * 1000:.0f} ms for {args.floor_seconds:.0f} s: {floor}"
                    )
                windows, committed, census = measure(backend, args.seconds, args.interval, args.window)
                if not windows:
                    raise RuntimeError(f"no review was decided on {backend.name}")
                report(backend, windows, committed, census, args.seconds, args.interval)
        return 0
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"steady_bench: could not measure: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    sys.exit(main())
