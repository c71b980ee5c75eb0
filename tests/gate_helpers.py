"""A gated flow for tests that decide reviews from outside the run: the CLI, channels.

The flow runs outside any deployment, so the gate pauses it in-process. Its one action appends a
line to a file: side effects are counted, not mocked. The gate's clock can be shifted per line, to
make a waiting review overdue without waiting for its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import anyio
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from prefect_review_gate.gates import (
    Action,
    Executors,
    ReviewPolicy,
    commit,
    outcome_state,
    request_review,
)
from prefect_review_gate.gates.errors import ReviewClosed
from prefect_review_gate.gates.reviews import PendingReview, list_pending
from prefect_review_gate.validators import Finding, Severity

__all__ = [
    "CLOCK_SHIFT",
    "EXECUTORS",
    "FINDINGS",
    "Started",
    "WriteLine",
    "gated_write",
    "review_of_run",
    "run_cli",
    "serving_deployments",
    "start_gated_write",
    "wait_until_waiting",
]

# line -> how far the gate's clock is from the real one; tests change it while the run waits.
CLOCK_SHIFT: dict[str, timedelta] = {}

FINDINGS = [
    Finding(
        code="unsupported_number",
        severity=Severity.BLOCK,
        message="400% is in no source",
        pointer="/actions/0/line",
        source_ids=["pricing"],
        evidence="Revenue grew 40% year over year.",
    ),
    Finding(code="uncited_number", severity=Severity.WARN, message="a number without a citation"),
]


class WriteLine(Action):
    """Appends `line` to the file at `path`."""

    kind: Literal["test.write_line"] = "test.write_line"
    title: ClassVar[str] = "Append a line to a file"
    path: str
    line: str


EXECUTORS = Executors()  # what the gated flows of the tests commit with


@EXECUTORS.register("test.write_line")
def _write(action: WriteLine, key: str) -> dict[str, str]:
    with open(action.path, "a", encoding="utf-8") as handle:
        handle.write(action.line + "\n")
    return {"written": action.line, "key": key}


@flow(name="cli-gated-write")
async def gated_write(path: str, line: str, policy: dict[str, Any], with_findings: bool = False) -> Any:
    actions = [WriteLine(path=path, line=line)]

    def clock() -> datetime:
        return datetime.now(UTC) + CLOCK_SHIFT.get(line, timedelta(0))

    verdict = await request_review(
        actions,
        policy=ReviewPolicy.model_validate(policy),
        findings=FINDINGS if with_findings else [],
        requester="agent:test",
        clock=clock,
    )
    try:
        report = await commit(verdict, actions, executors=EXECUTORS)
    except ReviewClosed as closed:
        return outcome_state(closed)
    return report.model_dump(mode="json")


class Started:
    """A gated run in progress in this event loop, and the file its action writes to."""

    def __init__(self, task: asyncio.Task[Any], out: Path, line: str) -> None:
        self.task, self.out, self.line = task, out, line

    async def final_state(self, timeout: float = 60) -> Any:
        return await asyncio.wait_for(self.task, timeout)

    def written(self) -> list[str]:
        return self.out.read_text(encoding="utf-8").splitlines() if self.out.exists() else []


def start_gated_write(tmp_path: Path, line: str, policy: dict[str, Any], **kw: Any) -> Started:
    out = tmp_path / "side-effects.txt"
    task = asyncio.create_task(gated_write(str(out), line, policy, return_state=True, **kw))
    return Started(task, out, line)


async def wait_until_waiting(line: str, approvals: int = 0, timeout: float = 60) -> PendingReview:
    """The open review whose action writes `line`, once its run waits with `approvals` counted."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for pending in await list_pending():
            request = pending.record.request
            if (
                pending.waiting
                and len(pending.record.approvals) == approvals
                and any(a.get("line") == line for a in request.actions)
            ):
                return pending
        await asyncio.sleep(0.2)
    raise AssertionError(f"no waiting review for {line!r}")


async def review_of_run(
    run: asyncio.Future[Any], matches: Callable[[PendingReview], bool], what: str, timeout: float = 60
) -> PendingReview:
    """The first waiting review `matches` accepts, failing at once if `run` ends before one opens."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if run.done():
            raise AssertionError(f"the run ended before its review opened: {run.result()}")
        for pending in await list_pending():
            if pending.waiting and matches(pending):
                return pending
        await asyncio.sleep(0.2)
    raise AssertionError(f"no waiting {what}")


async def events_about(flow_run_id: Any, timeout: float = 30) -> set[str]:
    """Names of the review_gate events related to a flow run, once `review_gate.committed` is among
    them (the server stores events late), or what was there at `timeout`."""
    names: set[str] = set()
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with get_client() as client:
            response = await client.request(
                "POST",
                "/events/filter",
                json={
                    "filter": {
                        "event": {"prefix": ["review_gate."]},
                        "related": {"id": [f"prefect.flow-run.{flow_run_id}"]},
                    }
                },
            )
        names = {event["event"] for event in response.json()["events"]}
        if "review_gate.committed" in names:
            return names
        await asyncio.sleep(0.5)
    return names


IMPORT_LOG = {"PYTHONPROFILEIMPORTTIME": "1"}  # run_cli's extra_env: the process logs its imports


def imported(err: str) -> list[str]:
    """The modules a process imported, from its PYTHONPROFILEIMPORTTIME lines on stderr."""
    return [line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")]


def prefect_modules(err: str) -> list[str]:
    return [module for module in imported(err) if module.split(".")[0] == "prefect"]


def message(err: str) -> str:
    """stderr without the import log: what a person reads."""
    return "".join(line + "\n" for line in err.splitlines() if not line.startswith("import time:"))


async def run_cli(
    *args: str, api: str | None, extra_env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """`review-gate ARGS` as a user runs it: a new process, pointed at `api` by PREFECT_API_URL."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    if api is not None:
        env["PREFECT_API_URL"] = api
    env.update(extra_env or {})
    with anyio.fail_after(120):
        result = await anyio.run_process(
            [sys.executable, "-m", "prefect_review_gate.gates.cli", *args], env=env, check=False
        )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


@contextlib.contextmanager
def serving_deployments(
    code: str, deployments: Sequence[str], env: dict[str, str], log: Path, cwd: Path, wait: float = 60
) -> Iterator[Path]:
    """A child process running `code` (which serves `deployments`), until they are all on the API."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd
        )
    try:
        _wait_for_deployments(process, deployments, log, wait)
        yield log
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


def _wait_for_deployments(
    process: subprocess.Popen[bytes], deployments: Sequence[str], log: Path, wait: float
) -> None:
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"the runner exited: {log.read_text(errors='replace')}")
            try:
                for name in deployments:
                    client.read_deployment_by_name(name)
                return
            except ObjectNotFound:
                time.sleep(0.1)
    raise AssertionError(f"the deployment was never served: {log.read_text(errors='replace')}")
