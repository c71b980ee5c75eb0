"""A flow run killed -9 in the middle of an action, then started again: a new run, a new review.

An in-process run has no retry: starting the script again makes a new flow run, whose review and
idempotency keys are new. The new review says the last run was interrupted, and its commit refuses
until a person resolves the interrupted run; resolved as run, the action is not run again. Each run
is a real process running the flow in-process (pause, not suspend); lines in a file count the side
effect.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from gate_helpers import run_cli, wait_until_waiting
from gated_flows import HANG_MID_ACTION

from prefect_review_gate.gates import Outcome
from prefect_review_gate.gates.reviews import decide

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

TESTS = Path(__file__).parent
WAIT = 60.0


def _start_run(workdir: Path, line: str, **extra: str) -> subprocess.Popen[str]:
    """The flow, run in-process by a script of its own, in a process group that can be killed whole."""
    from prefect.settings import PREFECT_API_URL

    code = (
        "import asyncio, sys, gated_flows; "
        "asyncio.run(gated_flows.durable_append("
        "sys.argv[1], sys.argv[2], {'reviewers': ['alice'], 'timeout': 600}))"
    )
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p),
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-c", code, str(workdir), line],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


async def test_a_run_started_again_after_kill_9_mid_action_never_repeats_it(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    api = str(PREFECT_API_URL.value())
    out, line = tmp_path / "out.txt", "restarted-after-kill"

    first = _start_run(tmp_path, line, **{HANG_MID_ACTION: "1"})
    pending = await wait_until_waiting(line, timeout=WAIT)
    interrupted_review = pending.record.request.id
    await decide(interrupted_review, Outcome.APPROVED, "alice")
    deadline = asyncio.get_running_loop().time() + WAIT
    while not _lines(out):
        assert first.poll() is None, first.communicate()
        assert asyncio.get_running_loop().time() < deadline, "the first run never reached its action"
        await asyncio.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # kill -9 in the middle of the action
    first.wait(timeout=30)

    second = _start_run(tmp_path, line)  # started again: a new flow run, a new review
    pending = await wait_until_waiting(line, timeout=WAIT)
    assert pending.record.request.id != interrupted_review
    warnings = [f for f in pending.record.request.findings if f.code == "earlier_commit_interrupted"]
    assert len(warnings) == 1 and interrupted_review in warnings[0].message  # reviewers are told
    await decide(pending.record.request.id, Outcome.APPROVED, "alice")
    _, stderr = await asyncio.to_thread(second.communicate, timeout=WAIT)
    assert second.returncode != 0
    assert f"an earlier run of this flow (review {interrupted_review}" in stderr  # refused, not blind
    assert _lines(out) == [line]

    status, _, err = await run_cli(
        "commits",
        "resolve",
        interrupted_review,
        "--as",
        "alice",
        "--ran",
        "--reason",
        "the line is there",
        api=api,
    )
    assert status == 0, err

    third = _start_run(tmp_path, line)
    pending = await wait_until_waiting(line, timeout=WAIT)
    assert not [f for f in pending.record.request.findings if f.code == "earlier_commit_interrupted"]
    await decide(pending.record.request.id, Outcome.APPROVED, "alice")
    _, stderr = await asyncio.to_thread(third.communicate, timeout=WAIT)
    assert third.returncode == 0, stderr[-3000:]
    assert _lines(out) == [line]  # done once, by the killed run: a person said so
