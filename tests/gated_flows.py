"""Flows, actions and helpers for the durability tests, importable by processes the tests start.

A served runner (`serve_all`, started with tests/ on PYTHONPATH) spawns a new process for every
attempt of a flow run, and a commit may run in a process of its own (`commit_main`). So every
start, every preparation and every side effect is counted in files under a run's `workdir`, never
in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from prefect import flow, serve, task
from prefect.client.orchestration import get_client
from prefect.context import TaskRunContext
from prefect.deployments.runner import RunnerDeployment

from prefect_review_gate.gates import (
    Action,
    Executors,
    ReviewPolicy,
    ReviewVerdict,
    commit,
    outcome_state,
    request_review,
)
from prefect_review_gate.gates.actions import parse_actions
from prefect_review_gate.gates.errors import ReviewClosed
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.validators import Finding, Severity

__all__ = [
    "DEPLOYMENT",
    "DIE_MID_ACTION",
    "EXECUTORS",
    "HANG_MID_ACTION",
    "RETRYING_DEPLOYMENT",
    "DurableAppend",
    "commit_main",
    "durable_append",
    "durable_append_retrying",
    "flag_400_percent",
    "new_flow_run_id",
    "serve_all",
    "serve_as",
]

DEPLOYMENT = "durable-append/durability"
RETRYING_DEPLOYMENT = "durable-append-retrying/durability"
# Set in a child's environment only: its executor then dies after the side effect, before returning.
DIE_MID_ACTION = "REVIEW_GATE_TEST_DIE_MID_ACTION"
# Set in a child's environment only: its executor hangs after the side effect, until it is killed.
HANG_MID_ACTION = "REVIEW_GATE_TEST_HANG_MID_ACTION"

EXECUTORS = Executors()  # the executors these flows commit with

Crash = Literal["none", "exit_after_review", "raise_after_review", "raise_after_commit", "exit_after_commit"]


class DurableAppend(Action):
    """Appends `line` to the file at `path`: a side effect that can be counted afterwards."""

    kind: Literal["test.durable_append"] = "test.durable_append"
    path: str
    line: str
    delay: float = 0.0  # seconds the executor takes, so that racing commits overlap


@EXECUTORS.register("test.durable_append")
async def append_line(action: DurableAppend, key: str) -> dict[str, str]:
    if action.delay:
        await asyncio.sleep(action.delay)
    with open(action.path, "a", encoding="utf-8") as handle:
        handle.write(action.line + "\n")
    if os.environ.get(DIE_MID_ACTION) == "1":
        os._exit(3)  # the side effect happened, and its outcome is never recorded
    if os.environ.get(HANG_MID_ACTION) == "1":
        await asyncio.Event().wait()  # the side effect happened; the process is killed right here
    return {"written": action.line, "key": key}


def flag_400_percent(actions: Sequence[Action]) -> list[Finding]:
    """A revalidation: a line claiming 400% is unsupported by any source."""
    return [
        Finding(
            code="unsupported_number",
            severity=Severity.BLOCK,
            message="400% is in no source",
            pointer=f"/actions/{index}/line",
        )
        for index, action in enumerate(actions)
        if "400%" in str(getattr(action, "line", ""))
    ]


def _prepare_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    # Scoped to the flow run: a re-run of the same run finds it, another run does not.
    return f"durability-prepare-{context.task_run.flow_run_id}-{parameters['line']}"


@task(persist_result=True, cache_key_fn=_prepare_key)
def prepare(workdir: str, line: str) -> str:
    """The agent's expensive work before the gate; counts how often it really runs."""
    counter = Path(workdir) / "prepared"
    count = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(count + 1))
    return line


def _first_time(marker: Path) -> bool:
    if marker.exists():
        return False
    marker.touch()
    return True


@flow(name="durable-append")
async def durable_append(
    workdir: str,
    line: str,
    policy: dict[str, Any],
    revalidate: bool = False,
    crash: Crash = "none",
) -> Any:
    """Prepare a line, ask for review, append it on approval; optionally crash once on the way."""
    return await _gated_append(workdir, line, policy, revalidate, crash)


@flow(name="durable-append-retrying", retries=1)
async def durable_append_retrying(
    workdir: str,
    line: str,
    policy: dict[str, Any],
    revalidate: bool = False,
    crash: Crash = "none",
) -> Any:
    """`durable_append` with one flow retry: its own function, so a deployment's entrypoint finds it."""
    return await _gated_append(workdir, line, policy, revalidate, crash)


class FileChannel:
    """A channel that appends each call to a file: survives the process, so re-runs can be counted."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _log(self, what: str, record: ReviewRecord) -> None:
        with self.path.open("a", encoding="utf-8") as log:
            log.write(f"{what} {record.status.value} {','.join(record.approvals)}\n")

    async def notify(self, record: ReviewRecord) -> None:
        self._log("notify", record)

    async def update(self, record: ReviewRecord) -> None:
        self._log("update", record)

    async def withdraw(self, record: ReviewRecord) -> None:
        self._log("withdraw", record)


async def _gated_append(
    workdir: str, line: str, policy: dict[str, Any], revalidate: bool, crash: Crash
) -> Any:
    work = Path(workdir)
    with (work / "starts").open("a", encoding="utf-8") as starts:
        starts.write(f"{os.getpid()}\n")
    prepared = prepare(workdir, line)
    actions = [DurableAppend(path=str(work / "out.txt"), line=prepared)]
    verdict = await request_review(
        actions,
        policy=ReviewPolicy.model_validate(policy),
        requester="agent:test",
        revalidate=flag_400_percent if revalidate else None,
        channels=[FileChannel(work / "channel.log")],
    )
    if crash == "exit_after_review" and _first_time(work / "crashed"):
        os._exit(1)  # the process dies with the approval in hand, before commit
    if crash == "raise_after_review" and _first_time(work / "crashed"):
        raise RuntimeError("the first attempt fails between approval and commit")
    try:
        report = await commit(verdict, executors=EXECUTORS)
    except ReviewClosed as closed:
        return outcome_state(closed)
    if crash == "exit_after_commit" and _first_time(work / "crashed"):
        os._exit(1)  # the process dies with the action committed, before the run could complete
    if crash == "raise_after_commit" and _first_time(work / "crashed"):
        raise RuntimeError("the first attempt fails after its commit")
    return report.model_dump(mode="json")


def serve_as(name: str) -> None:
    """Serve `durable_append` as deployment `durable-append/<name>`: one host's runner."""
    serve(RunnerDeployment.from_flow(durable_append, name=name), limit=10)


def serve_all() -> None:
    """Serve the deployments the suspend tests run (blocks until the process is stopped)."""
    flows = (durable_append, durable_append_retrying)
    serve(*(RunnerDeployment.from_flow(f, name="durability") for f in flows), limit=10)


def verdict_from_json(data: dict[str, Any]) -> ReviewVerdict:
    return ReviewVerdict(
        review_id=data["review_id"],
        outcome=data["outcome"],
        content_hash=data["content_hash"],
        actions=parse_actions(data["actions"]),
        flow_run_id=data.get("flow_run_id"),
    )


@flow(name="commit-anchor")
def commit_anchor() -> None:
    """Never run: the flow run a test's hand-built verdict belongs to (the ledger records on it)."""


async def new_flow_run_id() -> UUID:
    """A new flow run (never run) for a hand-built verdict, as `request_review` would give it."""
    async with get_client() as client:
        run = await client.create_flow_run(commit_anchor)
    return run.id


def commit_main(verdict_path: str) -> None:
    """Commit the verdict stored at `verdict_path` and print the report as JSON."""
    verdict = verdict_from_json(json.loads(Path(verdict_path).read_text(encoding="utf-8")))
    report = asyncio.run(commit(verdict, executors=EXECUTORS))
    sys.stdout.write(report.model_dump_json() + "\n")
