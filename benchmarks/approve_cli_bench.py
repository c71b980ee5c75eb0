"""Benchmark of `review-gate approve` as a process: start to resume accepted, one and ten at once.

A reviewer's `approve` is a new Python process. What it costs before its decision reaches the run is
startup (imports) plus a few calls to the Prefect API; with ten reviewers (or a script) approving at
once on two cores, startup is most of the wait. Everything here is real: a `prefect server start` of
its own on SQLite (gate_bench's: free loopback port, temporary PREFECT_HOME, removed afterwards),
gated flows paused in-process in worker processes (gate_bench's `gate-bench-paused` flow, three
processes), and the installed `review-gate` run with PREFECT_API_URL in its environment.

(a) One at a time: `--approvals` (20) paused reviews, each approved by one `review-gate approve`
    process started once the previous one exited.
(b) Ten at once: `--burst` (10) paused reviews, all approved by processes started together.

For each approval:
    accepted   process start -> the server stored the decision (the resume was accepted): the
               run input's `created` time, read from the API afterwards (same machine, same clock)
    running    process start -> the flow's first line after `request_review` (it writes the time;
               paused runs notice their decision by a poll, `pause_watch.POLL_INTERVAL_SECONDS`)
    process    process start -> exit (it waits until the run has taken the decision up)
and for (b) the wall time from starting the first process to the last decision accepted; with each
phase, the SQLite "database is locked" errors the server logged meanwhile (each a 503 the client
sent again: what makes the slowest of a burst slow on SQLite).

`--baseline REF` runs the same again with the CLI's code taken from git REF (`git archive` of
gates/, validators/, flows/ put first on PYTHONPATH; the paused flows run this tree's code either
way), alternating with this tree's, so that before and after meet the same server and load.

Run:  .venv/bin/python benchmarks/approve_cli_bench.py [--approvals 20] [--burst 10] [--baseline main]
It exits 0 whatever the figures (it measures, it does not gate), and 1 when it could not measure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

import httpx
from gate_bench import (
    HERE as GATE_BENCH,
    REVIEWER,
    locked_errors,
    prefect_env,
    prefect_server,
    split_among,
    wait_for_lines,
    wait_for_reviews,
)
from prefect.settings import PREFECT_API_URL, temporary_settings
from slack_bench import percentile

from prefect_review_gate.gates.reviews import PendingReview

REPO = Path(__file__).resolve().parents[1]
PAUSED_PROCESSES = 3
CLI = Path(sys.executable).with_name("review-gate")


@dataclass(frozen=True)
class Approval:
    accepted: float  # process start -> the server stored the decision
    running: float  # process start -> the flow ran again after the gate
    process: float  # process start -> exit


@dataclass(frozen=True)
class Phase:
    code: str  # "this tree" or the baseline's git ref
    mode: str  # "one at a time" or "N at once"
    approvals: list[Approval]
    committed: int  # lines the executors wrote: each approved action exactly once
    wall: float  # first process started -> last decision accepted
    locked: int  # SQLite "database is locked" errors the server logged meanwhile: each a 503, retried


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--approvals", type=int, default=20, help="approvals one at a time")
    parser.add_argument("--burst", type=int, default=10, help="approve processes started at once")
    parser.add_argument("--baseline", metavar="REF", help="also time the CLI's code at this git ref")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="approve-cli-bench-"))
    try:
        codes: list[tuple[str, Path | None]] = [("this tree", None)]
        if args.baseline:
            codes.append((args.baseline, _archive(args.baseline, home / "baseline")))
        phases = []
        with prefect_server(home) as api:
            for mode, count in (("one at a time", args.approvals), (f"{args.burst} at once", args.burst)):
                for name, code in codes:
                    phases.append(_measure(api, home, name, code, mode, count))
        _report(phases)
        return 0
    except (RuntimeError, subprocess.SubprocessError, httpx.HTTPError) as exc:
        print(f"approve_cli_bench: could not measure: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _archive(ref: str, into: Path) -> Path:
    """The package's code at `ref`, laid out as the import system finds it ahead of this tree's."""
    package = into / "prefect_review_gate"
    package.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "gates", "validators", "flows"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(package)], input=archive.stdout, check=True)
    return into


def _measure(api: str, home: Path, name: str, code: Path | None, mode: str, count: int) -> Phase:
    tag = f"{'base' if code else 'tree'}{'burst' if 'once' in mode else 'serial'}"
    workdir = home / tag
    workdir.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, str(GATE_BENCH), "--_paused-flows", tag, str(first), str(size), str(workdir)],
            env=prefect_env(home, api),
            stdout=(home / "workers.log").open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for first, size in split_among(count, PAUSED_PROCESSES)
    ]
    try:
        with temporary_settings(updates={PREFECT_API_URL: api}):
            waiting = asyncio.run(wait_for_reviews(f"{tag}-", count))
        locked_before = locked_errors(home)
        env = prefect_env(home, api)
        if code is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
        ordered = [waiting[i] for i in range(count)]
        approve = _approve_together if "once" in mode else _approve_one_by_one
        started = approve(ordered, env)
        committed = asyncio.run(wait_for_lines(workdir / "committed.txt", count))
        accepted = _accepted_times(api, ordered)
        resumed = _resumed_times(workdir, count)
        approvals = [
            Approval(accepted[i] - started[i][0], resumed[i] - started[i][0], started[i][1])
            for i in range(count)
        ]
        wall = max(accepted) - min(start for start, _ in started)
        for worker in workers:
            if worker.wait(120) != 0:
                raise RuntimeError("a paused-flow worker failed; see workers.log")
        return Phase(name, mode, approvals, committed, wall, locked_errors(home) - locked_before)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(15)


def _command(review: PendingReview) -> list[str]:
    return [str(CLI), "approve", review.record.request.id, "--as", REVIEWER]


def _approve_one_by_one(reviews: list[PendingReview], env: dict[str, str]) -> list[tuple[float, float]]:
    """(start, process seconds) of each approve, each started once the one before exited."""
    times = []
    for review in reviews:
        start = time.time()
        result = subprocess.run(_command(review), env=env, capture_output=True, text=True, timeout=120)
        times.append((start, time.time() - start))
        _check(result.returncode, result.stderr)
    return times


def _approve_together(reviews: list[PendingReview], env: dict[str, str]) -> list[tuple[float, float]]:
    """(start, process seconds) of each approve, all started at once."""

    async def approve(review: PendingReview) -> tuple[float, float]:
        start = time.time()
        process = await asyncio.create_subprocess_exec(
            *_command(review), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(process.communicate(), 120)
        seconds = time.time() - start
        _check(process.returncode or 0, err.decode())
        return start, seconds

    async def approve_all() -> list[tuple[float, float]]:
        return list(await asyncio.gather(*(approve(review) for review in reviews)))

    return asyncio.run(approve_all())


def _check(code: int, err: str) -> None:
    if code != 0:
        raise RuntimeError(f"review-gate approve exited {code}: {err.strip()}")


def _accepted_times(api: str, reviews: list[PendingReview]) -> list[float]:
    """When the server stored each review's decision (its resume was accepted), as epoch seconds."""
    times = []
    with httpx.Client(base_url=api.rstrip("/") + "/", timeout=30) as client:
        for review in reviews:
            run_id: UUID = review.record.request.flow_run_id
            body = {"prefix": f"paused-{review.record.request.id}-", "limit": 10, "exclude_keys": []}
            response = client.post(f"flow_runs/{run_id}/input/filter", json=body)
            response.raise_for_status()
            created = [
                datetime.fromisoformat(i["created"])
                for i in response.json()
                if i["key"].endswith("-response")
            ]
            if not created:
                raise RuntimeError(f"no stored decision for review {review.record.request.id}")
            times.append(min(created).timestamp())
    return times


def _resumed_times(workdir: Path, count: int) -> list[float]:
    times = []
    for index in range(count):
        path = workdir / f"resumed-{index}"
        deadline = time.monotonic() + 60
        while not (path.exists() and path.read_text(encoding="utf-8")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"flow {index} did not run again after its approval")
            time.sleep(0.05)
        times.append(float(path.read_text(encoding="utf-8")))
    return times


def _report(phases: list[Phase]) -> None:
    load = os.getloadavg()[0]
    print(
        "review-gate approve, a new process per approval: `prefect server start` on SQLite, "
        f"{os.cpu_count()} CPUs"
    )
    print("  (process start -> decision accepted by the server / flow running again / process exit)")
    for phase in phases:
        figures = [("accepted", [a.accepted for a in phase.approvals])]
        figures += [("running", [a.running for a in phase.approvals])]
        figures += [("process", [a.process for a in phase.approvals])]
        count = len(phase.approvals)
        print(
            f"  {phase.mode:<14} {phase.code:<10} {count} approvals, {phase.committed}/{count} committed once"
        )
        for label, values in figures:
            print(
                f"      {label:<9} median {statistics.median(values):.2f} s, "
                f"p95 {percentile(values, 0.95):.2f} s, max {max(values):.2f} s"
            )
        if "once" in phase.mode:
            print(f"      all {count} accepted {phase.wall:.2f} s after the first process started")
        if phase.locked:
            print(f"      server log: {phase.locked} SQLite 'database is locked' errors (503s, retried)")
    print(f"  load average (1 min) at the end: {load:.2f}")


if __name__ == "__main__":
    sys.exit(main())
