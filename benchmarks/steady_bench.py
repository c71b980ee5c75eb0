"""Steady load: a review requested and decided every 100 ms for minutes, two workers, Slack clicks.

On SQLite (gate_bench's server) and on the stack (PostgreSQL, S3 results; stack_bench.backends) in
the same run. Two worker processes each start a gated flow (stack_bench.mixed_review, paused
in-process, posted to the tests' Slack fake) every `2 x --interval`, staggered, so that together
they ask for a review every `--interval` (100 ms). This process watches the fake's messages and the
open reviews, and clicks Approve on each review as soon as its run waits for the decision, through
`review-gate serve`, signed as Slack signs.

Per window of `--window` seconds it prints: reviews decided, click -> flow running p50/p95/max, the
RSS of the `review-gate serve` process at the window's end, and the load average. No growth in
latency and a flat RSS are the targets: the last window's p95 within 1.5x of the first's (plus
0.5 s), and RSS growth under 20% from the second window to the last (the first holds warm-up).

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
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings
from slack_bench import (
    REVIEWER,
    Connection,
    click,
    percentile,
    resume_sent_after,
    slack_env,
    start_server,
    stop,
)
from stack_bench import Backend, add_backend_argument, backends, load, mixed_review

from prefect_review_gate.gates.reviews import list_pending

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from slack_fake import SlackFake

HERE = Path(__file__).resolve()
WORKERS = 2
LINE = re.compile(r"slack-bench-(\d+)")
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
    url: str, fake: SlackFake, workdir: Path, seconds: float, interval: float, window: float, serve_pid: int
) -> list[Window]:
    """Click each new review's Approve at once; collect latencies by the window the click fell in."""
    clicked: set[str] = set()
    sent_at: dict[int, float] = {}
    messages: dict[int, dict[str, object]] = {}
    windows = [Window() for _ in range(int(seconds // window) + 1)]
    samples: list[tuple[int, str]] = []  # serve's RSS and the load at the end of each window
    began = time.time()
    connection = await Connection.open(url)
    try:
        while time.time() < began + seconds + 180:
            # As a reviewer would: a review's buttons are clicked once its run waits for the
            # decision. A click before that is queued by serve and tried again with backoff.
            try:
                waiting = {p.record.request.id for p in await list_pending() if p.waiting}
            except httpx.HTTPError as exc:  # a server this busy is a figure, not the end of the run
                print(f"      (the open reviews could not be listed: {type(exc).__name__}) {load()}")
                waiting = set()
            for message in fake.messages():
                ts = str(message.get("ts"))
                found = LINE.search(str(message.get("blocks")))
                review_id = str(message.get("text")).split(":", 1)[0].removeprefix("Review ")
                if ts in clicked or found is None or review_id not in waiting:
                    continue
                clicked.add(ts)
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
    for index, sent in sent_at.items():
        stamp = workdir / f"resumed-{index}"
        if stamp.exists() and stamp.read_text():
            slot = min(int((sent - began) // window), len(windows) - 1)
            windows[slot].latencies.append(float(stamp.read_text()) - sent)
            if len(windows[slot].server_part) < SAMPLED:  # one API read each: a sample is enough
                part = await resume_sent_after({index: messages[index]}, {index: sent})
                windows[slot].server_part += [s for s in part if s == s]  # NaN: not found
    for slot, (rss, machine) in zip(windows, samples, strict=False):
        slot.rss_kib, slot.load = rss, machine
    return [w for w in windows if w.latencies]


def _all_stamped(workdir: Path, sent_at: dict[int, float]) -> bool:
    return all((workdir / f"resumed-{i}").exists() for i in sent_at)


def measure(backend: Backend, seconds: float, interval: float, window: float) -> tuple[list[Window], int]:
    workdir = backend.home / "steady"
    workdir.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with SlackFake() as fake:
            env = {**backend.env(), **slack_env(fake)}
            server, url = start_server(env, backend.home / "steady-serve.log")
            processes.append(server)
            for worker in range(WORKERS):
                command = [sys.executable, str(HERE), "--_worker", str(worker), str(seconds), str(interval)]
                with (backend.home / f"steady-worker-{worker}.log").open("wb") as log:
                    processes.append(
                        subprocess.Popen(
                            [*command, str(workdir)], env=env, stdout=log, stderr=subprocess.STDOUT
                        )
                    )
            with temporary_settings(updates={PREFECT_API_URL: backend.api}):
                windows = asyncio.run(drive(url, fake, workdir, seconds, interval, window, server.pid))
        committed = workdir / "committed.txt"
        lines = committed.read_text().splitlines() if committed.exists() else []
        return windows, len(lines) if len(set(lines)) == len(lines) else -len(lines)
    finally:
        for process in processes:
            stop(process)


def report(
    backend: Backend, windows: Sequence[Window], committed: int, seconds: float, interval: float
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
        with backends(args.only) as found:
            for backend in found:
                if args.floor_seconds > 0:
                    floor = measure_floor(backend, args.floor_seconds, args.interval)
                    print(
                        f"  (c) {backend.name}: Prefect's floor, a bare flow every "
                        f"{args.interval * 1000:.0f} ms for {args.floor_seconds:.0f} s: {floor}"
                    )
                windows, committed = measure(backend, args.seconds, args.interval, args.window)
                if not windows:
                    raise RuntimeError(f"no review was decided on {backend.name}")
                report(backend, windows, committed, args.seconds, args.interval)
        return 0
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"steady_bench: could not measure: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    sys.exit(main())
