"""Benchmark of `review-gate stats` over 1,000 reviews on a real Prefect server.

It starts its own `prefect server start` (`LocalPrefectServer`: a free loopback port, a temporary
PREFECT_HOME with its SQLite database, removed afterwards), and saves through the review store the
record versions 1,000 reviews of three agents leave: opened, then decided (approved, rejected,
blocked, expired, overridden, edited, some with a refused decision first), about 2.6 versions a
review, each with two actions and its findings. Then it runs the installed CLI as a user does (a
new process, `review-gate stats --since 7d --json`), median of 5, and checks it counted 1,000.
Target (issue #16): fast with thousands of reviews; this prints the figure.

Run:  .venv/bin/python benchmarks/stats_bench.py [--reviews 1000] [--runs 5]
It exits 0 whatever the figures (it measures, it does not gate), and 1 when it could not measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from prefect_review_gate.flows.common.local_server import LocalPrefectServer
from prefect_review_gate.gates.request import RefusedDecision, ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.store import PrefectReviewStore
from prefect_review_gate.gates.votes import GATE, Outcome, Vote
from prefect_review_gate.validators.findings import Finding, Severity

AGENTS = ("agent:forge", "agent:closer", "agent:render")
FLOWS = {"agent:forge": "proposal", "agent:closer": "deal-support", "agent:render": "render-release"}
CONCURRENCY = 8


def _versions(index: int, now: datetime) -> list[ReviewRecord]:
    """The record versions one review leaves, by its index: every outcome in turn."""
    agent = AGENTS[index % len(AGENTS)]
    opened = now - timedelta(minutes=5 * index + 10)
    findings = [
        Finding(code="unsupported_number", severity=Severity.BLOCK, message="400% is in no source"),
        Finding(code="uncited_number", severity=Severity.WARN, message="a number without a citation"),
    ][: index % 3]
    request = ReviewRequest(
        id=uuid.uuid4().hex[:12],
        flow_run_id=uuid.uuid4(),
        flow_name=FLOWS[agent],
        requester=agent,
        actions=[
            {"kind": "email.send", "to": ["ana@example.com"], "subject": f"Deal {index}", "body": "x" * 400},
            {"kind": "crm.log_note", "deal_id": f"D{index}", "body": "Called the client. " * 10},
        ],
        findings=findings,
        content_hash=uuid.uuid4().hex,
        policy={"reviewers": ["alice", "bob", "carol"]},
        created_at=opened,
        deadline=opened + timedelta(hours=8),
    )
    first = ReviewRecord(request=request, updated_at=opened, note="Waiting for a decision.")
    at = opened + timedelta(minutes=1 + index % 90)
    reviewer = ("alice", "bob", "carol")[index % 3]
    kind = index % 7
    versions = [first]
    if kind == 6:  # a refused decision first
        refused = RefusedDecision(reviewer="mallory", code="not_a_reviewer", at=at - timedelta(seconds=30))
        versions.append(first.model_copy(update={"refused": [refused], "note": "Not counted (mallory)"}))
    last = versions[-1]
    if kind == 5 or index % 97 == 0:  # still open
        return versions
    if kind == 2 and findings:
        vote = Vote(outcome=Outcome.REJECTED, reviewer="review-gate", content_hash="h", channel=GATE)
        status, votes = ReviewStatus.REJECTED, [vote]
    elif kind == 3:
        vote = Vote(outcome=Outcome.EXPIRED, reviewer="review-gate", content_hash="h", channel=GATE)
        status, votes = ReviewStatus.EXPIRED, [vote]
    else:
        outcome = Outcome.REJECTED if kind == 1 else Outcome.APPROVED
        vote = Vote(
            outcome=outcome,
            reviewer=reviewer,
            content_hash=request.content_hash,
            channel="prefect-api",
            decided_at=at,
            override_reason="checked by hand" if request.blocking else "",
        )
        status, votes = ReviewStatus(outcome.value), [vote]
    update: dict[str, object] = {"status": status, "votes": votes, "updated_at": at}
    if kind == 4:
        update["request"] = request.model_copy(update={"round": 1})
    versions.append(last.model_copy(update=update))
    return versions


async def seed(api: str, reviews: int) -> int:
    """Save every version of `reviews` reviews through the store; the number of versions saved."""
    now = datetime.now(UTC)
    all_versions = [_versions(i, now) for i in range(reviews)]
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=api.rstrip("/") + "/", timeout=60) as client:
        store = PrefectReviewStore(client)

        async def save_all(versions: list[ReviewRecord]) -> None:
            async with limit:
                for record in versions:  # in order: the latest version is saved last
                    await store.save(record)

        await asyncio.gather(*(save_all(v) for v in all_versions))
    return sum(len(v) for v in all_versions)


def time_cli(env: dict[str, str], runs: int, reviews: int) -> list[float]:
    command = [sys.executable, "-m", "prefect_review_gate.gates.cli", "stats", "--since", "7d", "--json"]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"review-gate stats failed ({result.returncode}): {result.stderr.strip()}")
        counted = json.loads(result.stdout)["total"]["requested"]
        if counted != reviews:
            raise SystemExit(f"review-gate stats counted {counted} reviews, not {reviews}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="stats-bench-"))
    print(f"review-gate stats benchmark: local `prefect server start` on SQLite, {os.cpu_count()} CPUs")
    try:
        with LocalPrefectServer(home / "prefect") as server:
            started = time.perf_counter()
            versions = asyncio.run(seed(server.api_url, args.reviews))
            print(
                f"  seeded {args.reviews} reviews of {len(AGENTS)} agents ({versions} record versions) "
                f"in {time.perf_counter() - started:.1f} s"
            )
            env = server.env()
            times = time_cli(env, args.runs, args.reviews)
    except SystemExit as stop:
        print(f"  could not measure: {stop}")
        return 1
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"  review-gate stats --since 7d --json over {args.reviews} reviews (new process, {args.runs} runs): "
        f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
