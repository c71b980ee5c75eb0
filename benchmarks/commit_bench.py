"""What exactly once across hosts costs: `commit` on a real Prefect server, one host and two racing.

Starts `prefect server start` (SQLite, a temporary PREFECT_HOME, removed afterwards; see
gate_bench.py) and measures:

- one host: N approved single-action reviews committed one after another: latency of the first
  commit (note, claim, run, outcome) and of a second commit of the same verdict (the replay), p50/p95;
- two hosts: two worker processes with their own PREFECT_HOME and result storage commit the same N
  reviews at once (10 at a time each): wall time, actions run, duplicates (must be 0).

Prints figures; exits 0 whatever they are, 1 when it could not measure.

    .venv/bin/python benchmarks/commit_bench.py [--reviews 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Literal

from gate_bench import prefect_env, prefect_server
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_review_gate.gates import Action, Executors, Outcome, ReviewVerdict, commit, content_hash
from prefect_review_gate.gates.actions import parse_actions

HERE = Path(__file__).resolve()
EXECUTORS = Executors()


class BenchAppend(Action):
    """Appends `line` and the host's name to `path` with O_APPEND."""

    kind: Literal["bench.append"] = "bench.append"
    path: str
    line: str


@EXECUTORS.register("bench.append")
def _append(action: BenchAppend, key: str) -> dict[str, str]:
    fd = os.open(action.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{action.line} {os.environ.get('BENCH_HOST', '?')}\n".encode())
    finally:
        os.close(fd)
    return {"line": action.line}


@flow(name="commit-bench-anchor")
def anchor() -> None:
    """Never run: the flow run each benchmark verdict belongs to."""


async def _verdicts(out: Path, count: int) -> list[ReviewVerdict]:
    verdicts = []
    async with get_client() as client:
        for n in range(count):
            actions: list[Action] = [
                BenchAppend(path=str(out), line=f"action-{n:04d}-{uuid.uuid4().hex[:6]}")
            ]
            run = await client.create_flow_run(anchor)
            verdicts.append(
                ReviewVerdict(
                    review_id=uuid.uuid4().hex[:12],
                    outcome=Outcome.APPROVED,
                    content_hash=content_hash(actions),
                    actions=actions,
                    flow_run_id=run.id,
                )
            )
    return verdicts


def _percentiles(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


async def one_host(out: Path, count: int) -> None:
    verdicts = await _verdicts(out, count)
    first, again = [], []
    for verdict in verdicts:
        started = time.perf_counter()
        await commit(verdict, executors=EXECUTORS)
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        await commit(verdict, executors=EXECUTORS)
        again.append(time.perf_counter() - started)
    lines = out.read_text(encoding="utf-8").splitlines()
    print(f"one host, {count} reviews one after another")
    print(f"  first commit (note, claim, run, outcome): {_percentiles(first)}")
    print(f"  second commit (replay):                    {_percentiles(again)}")
    print(f"  actions run: {len(lines)} of {count}")


async def two_hosts(root: Path, api: str, out: Path, count: int) -> None:
    verdicts = await _verdicts(out, count)
    path = root / "verdicts.json"
    path.write_text(json.dumps([v.model_dump(mode="json") for v in verdicts]), encoding="utf-8")
    workers = []
    started = time.perf_counter()
    for name, seed in (("a", 1), ("b", 2)):
        env = prefect_env(root / f"host-{name}", api) | {"BENCH_HOST": name}
        command = [sys.executable, str(HERE), "--worker", str(path), str(seed)]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, start_new_session=True))
    outputs = [w.communicate(timeout=600)[0].decode() for w in workers]
    wall = time.perf_counter() - started
    if any(w.returncode for w in workers):
        raise RuntimeError(f"a worker failed: {[w.returncode for w in workers]}")
    errors = sum(1 for output in outputs for line in output.splitlines() if '"error"' in line)
    counts = Counter(line.split()[0] for line in out.read_text(encoding="utf-8").splitlines())
    print(f"two hosts (own PREFECT_HOME and storage each), {count} reviews, both commit all at once")
    print(f"  wall time (two processes, start to end): {wall:6.2f} s")
    print(
        f"  actions run: {sum(counts.values())} of {count}; duplicates: {sum(c - 1 for c in counts.values())}"
    )
    print(f"  commits that failed: {errors}")


def worker(verdicts_path: str, seed: int) -> None:
    data = json.loads(Path(verdicts_path).read_text(encoding="utf-8"))
    random.Random(seed).shuffle(data)

    async def run() -> None:
        gate = asyncio.Semaphore(10)

        async def one(item: dict[str, object]) -> None:
            verdict = ReviewVerdict(
                review_id=str(item["review_id"]),
                outcome=Outcome.APPROVED,
                content_hash=str(item["content_hash"]),
                actions=parse_actions(item["actions"]),  # type: ignore[arg-type]
                flow_run_id=item["flow_run_id"],  # type: ignore[arg-type]
            )
            async with gate:
                try:
                    await commit(verdict, executors=EXECUTORS)
                    print(json.dumps({"review_id": verdict.review_id}), flush=True)
                except Exception as exc:
                    print(json.dumps({"review_id": verdict.review_id, "error": str(exc)}), flush=True)

        await asyncio.gather(*(one(item) for item in data))

    asyncio.run(run())


def measure(root: Path, api: str, count: int) -> None:
    """Both measurements, in a process whose Prefect home is the benchmark's own."""
    with temporary_settings({PREFECT_API_URL: api}):
        asyncio.run(one_host(root / "one-host.log", count))
        asyncio.run(two_hosts(root, api, root / "two-hosts.log", min(count, 50)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=100)
    parser.add_argument("--worker", nargs=2, metavar=("VERDICTS", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--measure", nargs=2, metavar=("ROOT", "API"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return 0
    if args.measure:
        measure(Path(args.measure[0]), args.measure[1], args.reviews)
        return 0
    root = Path(tempfile.mkdtemp(prefix="commit-bench-"))
    try:
        (root / "server").mkdir()
        with prefect_server(root / "server") as api:
            command = [sys.executable, str(HERE), "--measure", str(root), api, "--reviews", str(args.reviews)]
            done = subprocess.run(command, env=prefect_env(root / "bench", api), timeout=1200, check=False)
            if done.returncode:
                print(f"could not measure: the measuring process exited with {done.returncode}")
                return 1
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"could not measure: {exc}")
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
