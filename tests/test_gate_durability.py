"""The gate survives what real runs go through: suspension, crashes, retries, races and edits.

Suspend tests serve a deployment from a separate process (`gated_flows.serve_all`) against the
session's Prefect server: every attempt of a flow run is a new process, so what survives a suspend
is only what Prefect persisted. Files under each test's `tmp_path` count starts, preparations and
side effects.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import gated_flows
import pytest
from gate_helpers import serving_deployments
from gated_flows import DurableAppend, durable_append, durable_append_retrying
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Scheduled

from prefect_review_gate.gates import (
    Action,
    Outcome,
    ReviewDecision,
    ReviewVerdict,
    commit,
    content_hash,
)
from prefect_review_gate.gates.errors import CommitInterrupted
from prefect_review_gate.gates.request import ReviewRecord, ReviewStatus
from prefect_review_gate.gates.reviews import decide, get_review
from prefect_review_gate.gates.store_client import open_store
from prefect_review_gate.gates.waiting import resume_with
from prefect_review_gate.validators import ReviewGateError

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

TESTS = Path(__file__).parent
POLICY: dict[str, Any] = {"reviewers": ["alice", "bob", "carol"], "timeout": 600}
WAIT = 30.0  # seconds any one condition may take to come true
T = TypeVar("T")


# --- a served deployment in its own process ---------------------------------------------------------


@pytest.fixture(scope="module")
def served(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Serve the deployments of `gated_flows` from a subprocess; yields the runner's log file."""
    log = tmp_path_factory.mktemp("runner") / "runner.log"
    env = _child_env(PREFECT_RUNNER_POLL_FREQUENCY="1", PREFECT_LOGGING_LEVEL="INFO")
    deployments = (gated_flows.DEPLOYMENT, gated_flows.RETRYING_DEPLOYMENT)
    code = "import gated_flows; gated_flows.serve_all()"
    with serving_deployments(code, deployments, env, log, cwd=TESTS.parent, wait=WAIT):
        yield log


def _child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this session's Prefect API, home and storage."""
    from prefect.settings import PREFECT_API_URL

    return {
        **os.environ,  # conftest's PREFECT_HOME and PREFECT_LOCAL_STORAGE_PATH are in here
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p),
        **extra,
    }


async def _start(
    workdir: Path,
    line: str,
    policy: dict[str, Any] = POLICY,
    deployment_name: str = gated_flows.DEPLOYMENT,
    **parameters: Any,
) -> UUID:
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(deployment_name)
        run = await client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"workdir": str(workdir), "line": line, "policy": policy, **parameters},
        )
    return run.id


# --- waiting for things to come true --------------------------------------------------------------


async def _poll(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = WAIT) -> T:
    """Await `probe()` until it returns something other than None, and return that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _read_run(run_id: UUID) -> FlowRun:
    async with get_client() as client:
        return await client.read_flow_run(run_id)


async def _waiting(run_id: UUID, sequence: int) -> ReviewRecord:
    """The run's review once the run waits (paused or suspended) for decision number `sequence`."""

    async def probe() -> ReviewRecord | None:
        run = await _read_run(run_id)
        key = run.state.state_details.pause_key if run.state else None
        if run.state is None or run.state.type is not StateType.PAUSED or key is None:
            return None
        review_id, _, number = key.rpartition("-")
        if number != str(sequence):
            return None
        return await get_review(review_id)

    return await _poll(probe, f"run {run_id} to wait for decision {sequence}")


async def _final(run_id: UUID) -> FlowRun:
    async def probe() -> FlowRun | None:
        run = await _read_run(run_id)
        return run if run.state is not None and run.state.is_final() else None

    return await _poll(probe, f"run {run_id} to end")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _starts(workdir: Path) -> list[int]:
    return [int(pid) for pid in _lines(workdir / "starts")]


def _prepared(workdir: Path) -> int:
    counter = workdir / "prepared"
    return int(counter.read_text()) if counter.exists() else 0


def _exited(pid: int) -> bool:
    """True when no process `pid` runs (gone, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat.rpartition(")")[2].split()[0] in {"Z", "X"}


async def _wait_exited(pid: int) -> None:
    async def probe() -> bool | None:
        return True if _exited(pid) else None

    await _poll(probe, f"process {pid} to exit")


async def _prepare_task_states(run_id: UUID) -> list[str]:
    async with get_client() as client:
        task_runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    ordered = sorted(task_runs, key=lambda t: t.created.timestamp() if t.created else 0.0)
    return [t.state_name or "" for t in ordered if t.name.startswith("prepare")]


# --- 1. the suspend path, from a served deployment ---------------------------------------------------


async def test_a_suspended_run_holds_no_process_and_resumes_from_the_top(
    served: Path, tmp_path: Path
) -> None:
    run_id = await _start(tmp_path, "suspended-line")
    record = await _waiting(run_id, 0)
    run = await _read_run(run_id)
    assert run.state is not None and run.state.name == "Suspended", run.state
    [first] = _starts(tmp_path)
    await _wait_exited(first)  # nothing runs the flow body while people decide
    assert _lines(tmp_path / "out.txt") == []

    await decide(record.request.id, Outcome.APPROVED, "alice", comment="fine")
    run = await _final(run_id)

    assert run.state is not None and run.state.is_completed(), run.state
    starts = _starts(tmp_path)
    assert len(starts) == 2 and starts[0] != starts[1]  # the body ran again, in a new process
    assert _prepared(tmp_path) == 1  # work before the gate came back from its persisted result
    assert await _prepare_task_states(run_id) == ["Completed", "Cached"]
    assert _lines(tmp_path / "out.txt") == ["suspended-line"]
    review = await get_review(record.request.id)
    assert review.status is ReviewStatus.APPROVED and review.approvals == ["alice"]


async def test_a_forged_record_makes_a_suspended_run_commit_nothing(served: Path, tmp_path: Path) -> None:
    run_id = await _start(tmp_path, "forged-line")
    record = await _waiting(run_id, 0)
    # Anyone with API write access can post a newer version of the review's record...
    forged = record.model_copy(update={"status": ReviewStatus.APPROVED, "note": "Approved by alice."})
    async with open_store() as store:
        await store.save(forged)
    # ...and wake the run with any decision, so that it re-runs from the top.
    nobody = ReviewDecision(
        outcome=Outcome.APPROVED, reviewer="mallory", content_hash=record.request.content_hash
    )
    assert (await resume_with(run_id, nobody))[0]

    again = await _waiting(run_id, 1)
    assert again.is_open and again.votes == [] and "mallory is not a reviewer" in again.note
    assert _lines(tmp_path / "out.txt") == []
    await decide(record.request.id, Outcome.REJECTED, "bob", comment="forged")
    run = await _final(run_id)
    assert run.state is not None and run.state.name == "Rejected"
    assert _lines(tmp_path / "out.txt") == []


async def test_a_suspended_run_rejected_ends_rejected_and_writes_nothing(
    served: Path, tmp_path: Path
) -> None:
    run_id = await _start(tmp_path, "rejected-suspended-line")
    record = await _waiting(run_id, 0)
    await decide(record.request.id, Outcome.REJECTED, "bob", comment="invented")

    run = await _final(run_id)

    assert run.state is not None and run.state.type is StateType.CANCELLED
    assert run.state.name == "Rejected" and "invented" in (run.state.message or "")
    assert _lines(tmp_path / "out.txt") == []
    assert len(_starts(tmp_path)) == 2 and _prepared(tmp_path) == 1


async def test_quorum_under_suspend_replays_earlier_votes_by_pause_key(served: Path, tmp_path: Path) -> None:
    policy = {**POLICY, "approvals_required": 2}
    run_id = await _start(tmp_path, "quorum-suspended-line", policy)
    record = await _waiting(run_id, 0)
    review_id = record.request.id

    await decide(review_id, Outcome.APPROVED, "alice")
    record = await _waiting(run_id, 1)  # re-ran, replayed alice's vote, suspended for the next one
    assert record.is_open and record.approvals == ["alice"]
    assert _lines(tmp_path / "out.txt") == []
    await decide(review_id, Outcome.APPROVED, "carol")
    run = await _final(run_id)

    assert run.state is not None and run.state.is_completed(), run.state
    assert len(set(_starts(tmp_path))) == 3 and _prepared(tmp_path) == 1
    assert _lines(tmp_path / "out.txt") == ["quorum-suspended-line"]
    assert set(run.empirical_policy.pause_keys or ()) == {f"{review_id}-0", f"{review_id}-1"}
    assert (await get_review(review_id)).approvals == ["alice", "carol"]
    # Three runs of the flow body, yet each thing was told once: replays announce nothing.
    channel_calls = (tmp_path / "channel.log").read_text().splitlines()
    assert channel_calls == ["notify open ", "update open alice", "update approved alice,carol"]


# --- 2. crashes between approval and commit, and racing commits ----------------------------------------


async def test_a_process_killed_after_approval_commits_once_when_the_run_is_retried(
    served: Path, tmp_path: Path
) -> None:
    run_id = await _start(tmp_path, "killed-line", crash="exit_after_review")
    record = await _waiting(run_id, 0)
    await decide(record.request.id, Outcome.APPROVED, "alice")
    run = await _final(run_id)
    assert run.state is not None and run.state.is_crashed(), run.state
    assert _lines(tmp_path / "out.txt") == []

    async with get_client() as client:  # what the UI's "Retry" does
        await client.set_flow_run_state(run_id, Scheduled(name="AwaitingRetry"), force=True)
    run = await _final(run_id)

    assert run.state is not None and run.state.is_completed(), run.state
    assert _lines(tmp_path / "out.txt") == ["killed-line"]
    assert len(_starts(tmp_path)) == 3 and _prepared(tmp_path) == 1


async def test_a_flow_retry_after_a_failure_under_suspend_commits_once(served: Path, tmp_path: Path) -> None:
    run_id = await _start(
        tmp_path,
        "retried-suspended-line",
        deployment_name=gated_flows.RETRYING_DEPLOYMENT,
        crash="raise_after_review",
    )
    record = await _waiting(run_id, 0)
    await decide(record.request.id, Outcome.APPROVED, "alice")
    run = await _final(run_id)

    assert run.state is not None and run.state.is_completed(), run.state
    assert _lines(tmp_path / "out.txt") == ["retried-suspended-line"]
    assert _prepared(tmp_path) == 1


async def _run_in_process(workdir: Path, line: str, crash: str) -> Any:
    """Run the retrying flow in this process (pause path), approve it, and return its final state."""
    # Prefect 3.9 counts an in-process pause's resume as a run (`run_count` goes up by one), so a
    # flow that pauses once needs retries=2 to be retried once. A suspend's re-run does not count.
    retrying = durable_append_retrying.with_options(retries=2)
    run = asyncio.ensure_future(retrying(str(workdir), line, POLICY, crash=crash, return_state=True))
    run_id = await _poll(_run_id_of(workdir), "the run to start")
    record = await _waiting(run_id, 0)
    await decide(record.request.id, Outcome.APPROVED, "alice")
    return await asyncio.wait_for(run, WAIT)


def _run_id_of(workdir: Path) -> Callable[[], Awaitable[UUID | None]]:
    """A probe for the id of the one flow run whose `workdir` parameter is `workdir`."""

    async def probe() -> UUID | None:
        async with get_client() as client:
            # Newest first, few: the session's server holds every test's runs, more than a page.
            runs = await client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=50)
        found = [r.id for r in runs if r.parameters.get("workdir") == str(workdir)]
        return found[0] if found else None

    return probe


async def test_a_retry_after_a_failure_between_approval_and_commit_commits_once(tmp_path: Path) -> None:
    state = await _run_in_process(tmp_path, "retried-line", "raise_after_review")

    assert state.is_completed(), state
    assert _lines(tmp_path / "out.txt") == ["retried-line"]
    assert len(_starts(tmp_path)) == 2  # both attempts ran the body; only the second committed
    report = await state.result()
    assert report["outcomes"][0]["replayed"] is False


async def test_a_retry_after_a_failure_after_commit_replays_the_recorded_outcome(tmp_path: Path) -> None:
    state = await _run_in_process(tmp_path, "committed-then-failed-line", "raise_after_commit")

    assert state.is_completed(), state
    assert _lines(tmp_path / "out.txt") == ["committed-then-failed-line"]
    report = await state.result()
    assert report["outcomes"][0]["replayed"] is True


async def _approved(workdir: Path, line: str, delay: float = 0.0) -> ReviewVerdict:
    actions: list[Action] = [DurableAppend(path=str(workdir / "out.txt"), line=line, delay=delay)]
    return ReviewVerdict(
        review_id=uuid.uuid4().hex[:12],
        outcome=Outcome.APPROVED,
        content_hash=content_hash(actions),
        actions=actions,
        flow_run_id=await gated_flows.new_flow_run_id(),
    )


async def test_two_concurrent_commits_in_one_process_write_once(tmp_path: Path) -> None:
    verdict = await _approved(tmp_path, "raced-line", delay=0.5)

    reports = await asyncio.wait_for(
        asyncio.gather(*(commit(verdict, executors=gated_flows.EXECUTORS) for _ in range(2))), WAIT
    )

    assert _lines(tmp_path / "out.txt") == ["raced-line"]
    assert sorted(r.outcomes[0].replayed for r in reports) == [False, True]
    assert {r.outcomes[0].idempotency_key for r in reports} == {reports[0].outcomes[0].idempotency_key}


def _commit_in_subprocess(verdict: ReviewVerdict, workdir: Path, **env: str) -> subprocess.Popen[str]:
    path = workdir / f"verdict-{uuid.uuid4().hex}.json"
    path.write_text(verdict.model_dump_json(), encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-c", "import sys, gated_flows; gated_flows.commit_main(sys.argv[1])", str(path)],
        env=_child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_two_concurrent_commits_in_two_processes_write_once(tmp_path: Path) -> None:
    verdict = await _approved(tmp_path, "raced-across-processes", delay=1.0)

    processes = [_commit_in_subprocess(verdict, tmp_path) for _ in range(2)]
    outputs = [await asyncio.to_thread(p.communicate, timeout=WAIT) for p in processes]

    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    assert sorted(r["outcomes"][0]["replayed"] for r in reports) == [False, True]
    assert _lines(tmp_path / "out.txt") == ["raced-across-processes"]


async def test_an_action_interrupted_by_a_dying_process_is_never_run_again(tmp_path: Path) -> None:
    verdict = await _approved(tmp_path, "half-done-line")
    dying = _commit_in_subprocess(verdict, tmp_path, **{gated_flows.DIE_MID_ACTION: "1"})
    await asyncio.to_thread(dying.communicate, timeout=WAIT)
    assert dying.returncode == 3
    assert _lines(tmp_path / "out.txt") == ["half-done-line"]  # it happened; the ledger never heard

    for _ in range(2):
        with pytest.raises(CommitInterrupted, match="outcome was never recorded"):
            await asyncio.wait_for(commit(verdict, executors=gated_flows.EXECUTORS), 10)

    assert _lines(tmp_path / "out.txt") == ["half-done-line"]


# --- 3. an edit is validated again before it commits ---------------------------------------------------


async def test_an_edit_is_validated_again_and_only_clean_content_commits(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    run = asyncio.ensure_future(
        durable_append(str(tmp_path), "growth was 40%", POLICY, revalidate=True, return_state=True)
    )
    run_id = await _poll(_run_id_of(tmp_path), "the run to start")
    first = await _waiting(run_id, 0)
    original_hash = first.request.content_hash

    def edit(line: str) -> list[dict[str, Any]]:
        return [DurableAppend(path=str(out), line=line).model_dump(mode="json")]

    blocked_edit = ReviewDecision(
        outcome=Outcome.APPROVED,
        reviewer="alice",
        content_hash=original_hash,
        edited_actions=edit("growth was 400%"),
    )
    assert (await resume_with(run_id, blocked_edit))[0]
    second = await _waiting(run_id, 1)  # back for review, on the edited content
    assert second.request.id == first.request.id and second.request.round == 1
    assert second.request.content_hash != original_hash
    assert [a["line"] for a in second.request.actions] == ["growth was 400%"]
    assert [f.code for f in second.request.blocking] == ["unsupported_number"]
    assert second.votes == [] and second.is_open

    stale = ReviewDecision(outcome=Outcome.APPROVED, reviewer="bob", content_hash=original_hash)
    assert (await resume_with(run_id, stale))[0]  # the server takes it; the gate does not count it
    third = await _waiting(run_id, 2)
    assert third.votes == [] and "stale content hash" in third.note

    clean_edit = ReviewDecision(
        outcome=Outcome.APPROVED,
        reviewer="carol",
        content_hash=third.request.content_hash,
        edited_actions=edit("growth was 40 percent"),
    )
    assert (await resume_with(run_id, clean_edit))[0]
    state = await asyncio.wait_for(run, WAIT)

    assert state.is_completed(), state
    assert _lines(out) == ["growth was 40 percent"]
    review = await get_review(first.request.id)
    assert review.status is ReviewStatus.APPROVED and review.approvals == ["carol"]
    assert review.request.findings == [] and review.request.round == 2
    report = await state.result()
    assert report["content_hash"] == review.request.content_hash != original_hash


async def test_an_edit_under_suspend_is_revalidated_on_every_re_run(served: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    run_id = await _start(tmp_path, "margin was 12%", revalidate=True)
    first = await _waiting(run_id, 0)
    blocked_edit = ReviewDecision(
        outcome=Outcome.APPROVED,
        reviewer="alice",
        content_hash=first.request.content_hash,
        edited_actions=[DurableAppend(path=str(out), line="margin was 400%").model_dump(mode="json")],
    )
    assert (await resume_with(run_id, blocked_edit))[0]
    second = await _waiting(run_id, 1)
    assert [f.code for f in second.request.blocking] == ["unsupported_number"]

    # The edited content is what reviewers now decide on; approving it needs an override reason.
    await decide(
        first.request.id,
        Outcome.APPROVED,
        "bob",
        override_reason="the 400% is the client's own figure",
    )
    run = await _final(run_id)

    assert run.state is not None and run.state.is_completed(), run.state
    assert _lines(out) == ["margin was 400%"]
    assert len(_starts(tmp_path)) == 3 and _prepared(tmp_path) == 1


# --- 4. a decision after the outcome changes nothing --------------------------------------------------


async def test_a_second_decision_after_the_outcome_is_refused_and_nothing_runs_twice(
    served: Path, tmp_path: Path
) -> None:
    run_id = await _start(tmp_path, "once-line")
    record = await _waiting(run_id, 0)
    review_id = record.request.id
    await decide(review_id, Outcome.APPROVED, "alice")
    with pytest.raises(ReviewGateError, match=r"not paused|not waiting|already decided"):
        await decide(review_id, Outcome.REJECTED, "bob")  # while it resumes
    run = await _final(run_id)
    assert run.state is not None and run.state.is_completed()

    with pytest.raises(ReviewGateError, match="already decided"):
        await decide(review_id, Outcome.REJECTED, "bob")
    late = ReviewDecision(outcome=Outcome.REJECTED, reviewer="bob", content_hash=record.request.content_hash)
    accepted, reason = await resume_with(run_id, late)  # past the CLI's check, straight to Prefect
    assert not accepted and "not paused" in reason
    await asyncio.sleep(2.5)  # longer than the runner's poll: a wrongly rescheduled run would start

    run = await _read_run(run_id)
    assert run.state is not None and run.state.is_completed()
    assert len(_starts(tmp_path)) == 2
    assert _lines(tmp_path / "out.txt") == ["once-line"]
    assert (await get_review(review_id)).status is ReviewStatus.APPROVED
