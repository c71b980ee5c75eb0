"""What one gated review asks the Prefect server, phase by phase, counted at the wire.

One gated flow (one action, posted to the tests' Slack fake, paused in-process) runs in this
process with every Prefect call going through a TCP relay that notes each request line
(tests/http_relay.py); the decision is sent as the CLI sends it (`reviews.decide`), through the
relay too. Then a second one in the same process: what a long-lived worker pays per review, once
its client has checked the server's version and its events connection is open. Printed per review
and phase: the requests, by method and path (ids folded):

  open       from the flow's start until the review is waiting (run, review, card, Slack, pause)
  waiting    two seconds of waiting (the paused run's state poll)
  decide     the CLI's decision (read the review, resume the run)
  resume     from the resume to the flow's first line after the gate (decision read, record, card,
             Slack message)
  commit     from there to the end of the run (ledger claim and outcome, index, run state)

On a SQLite `prefect server start` of its own (gate_bench.prefect_server) unless --api is given.
Reads made by this script to follow the run go around the relay and are not counted; so do the
run's logs (Prefect ships them in batches, one POST every few seconds per process, whatever the
gate does), which are off here.

Run:  .venv/bin/python benchmarks/request_census.py [--api URL]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

from gate_bench import prefect_server
from prefect.settings import PREFECT_API_URL, temporary_settings
from slack_bench import slack_env
from stack_bench import CLI_REVIEWER, mixed_review

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "tests"))
from http_relay import counting_relay  # noqa: E402
from slack_fake import SlackFake  # noqa: E402

from prefect_review_gate.gates import Outcome  # noqa: E402
from prefect_review_gate.gates.review_api import ApiTarget, list_pending  # noqa: E402
from prefect_review_gate.gates.reviews import decide  # noqa: E402

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{12}")
WAIT_SECONDS = 2.0
EVENTS_FLUSH_SECONDS = 3.0


def _folded(path: str) -> str:
    return _ID.sub("{id}", path.split("?", 1)[0].removeprefix("/api"))


Phases = list[tuple[str, list[tuple[str, str]]]]


async def census(api: str, workdir: Path) -> tuple[Phases, Phases]:
    """(phase, requests) in order, for the process's first review and for its second."""
    with counting_relay(api) as (relay, seen), temporary_settings(updates={PREFECT_API_URL: relay}):
        first = await one_review(ApiTarget(api), seen, workdir, 0)
        second = await one_review(ApiTarget(api), seen, workdir, 1)
        await asyncio.sleep(EVENTS_FLUSH_SECONDS)  # the run's events go out through the relay
    return first, second


async def one_review(direct: ApiTarget, seen: list[tuple[str, str]], workdir: Path, index: int) -> Phases:
    """One review approved by the CLI's path, phase by phase; `direct` reads around the relay."""
    phases: Phases = []

    def mark(phase: str) -> None:
        phases.append((phase, list(seen)))
        seen.clear()

    run = asyncio.ensure_future(mixed_review(index, str(workdir)))
    while not [p for p in await list_pending(direct) if p.waiting]:
        if run.done():
            run.result()  # the flow failed: say why
        await asyncio.sleep(0.05)
    mark("open")
    await asyncio.sleep(WAIT_SECONDS)
    mark("waiting")
    [pending] = [p for p in await list_pending(direct) if p.waiting]
    await decide(pending.record.request.id, Outcome.APPROVED, CLI_REVIEWER)
    mark("decide")
    stamp = workdir / f"resumed-{index}"
    while not stamp.exists():
        await asyncio.sleep(0.02)
    mark("resume")
    await asyncio.wait_for(run, 120)
    await asyncio.sleep(0.5)  # the engine's last state write
    mark("commit")
    return phases


def report(which: str, phases: Phases) -> None:
    total = sum(len(requests) for _, requests in phases)
    what = "one review, Slack-posted, paused in-process, approved by the CLI's path"
    print(f"request census, {which}: {what}: {total}")
    for phase, requests in phases:
        print(f"  {phase:<8} {len(requests):>3} requests")
        for (method, path), count in collections.Counter((m, _folded(p)) for m, p in requests).most_common():
            print(f"           {count:>3}  {method:<6} {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--api", help="the Prefect API to count on (default: a SQLite server of its own)")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="request-census-"))
    try:
        with SlackFake() as fake, mock.patch.dict(os.environ, slack_env(fake)):
            if args.api:
                first, second = asyncio.run(census(args.api, home))
            else:
                with prefect_server(home) as api:
                    first, second = asyncio.run(census(api, home))
        report("a new process's first review", first)
        report("its second (a worker that has run one)", second)
        return 0
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "false"
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(code)
