"""The commit ledger: claims and outcomes on the Prefect server, executors' failures, earlier ledgers.

The ledger records on the review's flow run (write-once run inputs); result storage holds only the
records of ledgers before it, still read before an action's first claim. Prefect's
`RemoteFileSystem` block on `memory://` is a real non-local result storage, and a subclass of it
fails reads on demand. Side effects are lines appended to real files, counted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import fsspec
import httpx
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from gated_flows import new_flow_run_id
from prefect.client.orchestration import get_client
from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect.results import ResultStore
from prefect.settings import PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings

from prefect_review_gate.gates import Action, Executors, Outcome, ReviewVerdict, commit, content_hash
from prefect_review_gate.gates.commit import idempotency_key
from prefect_review_gate.gates.commit_log import action_prefix, review_prefix
from prefect_review_gate.gates.errors import ActionNotPerformed, CommitInterrupted
from prefect_review_gate.gates.executors import Executor
from prefect_review_gate.gates.fresh_reviews import note_opened_here
from prefect_review_gate.gates.ledger import CommitLedger, _is_missing, ledger_keys
from prefect_review_gate.gates.store import ApiRequester
from prefect_review_gate.gates.store_client import open_api
from prefect_review_gate.validators import ReviewGateError

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]


class LedgerAppend(Action):
    """Appends `line` to `path`; may fail once first (before or after its side effect), or hang after it."""

    kind: Literal["test.ledger_append"] = "test.ledger_append"
    path: str
    line: str
    fail_once: Literal["", "before", "after"] = ""
    hang: bool = False


EXECUTORS = Executors()


@EXECUTORS.register("test.ledger_append")
async def _append(action: LedgerAppend, key: str) -> dict[str, str]:
    failed = Path(action.path + ".failed")
    if action.fail_once == "before" and not failed.exists():
        failed.touch()
        raise ActionNotPerformed("the mail server refused the connection")  # before any side effect
    with open(action.path, "a", encoding="utf-8") as handle:
        handle.write(action.line + "\n")
    if action.fail_once == "after" and not failed.exists():
        failed.touch()
        raise TimeoutError("the mail server did not answer after the message was sent")
    if action.hang:
        await asyncio.Event().wait()  # the side effect happened; the run is cancelled right here
    return {"written": action.line}


class FailingMemory(MemoryFileSystem):
    """fsspec's in-memory file system, whose reads fail while `failing` is set: an object store's outage."""

    protocol = "review-gate-failing"
    failing: ClassVar[bool] = False

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if FailingMemory.failing and "r" in mode:
            raise ConnectionError("the object store is unreachable")
        return super()._open(path, mode, *args, **kwargs)


fsspec.register_implementation(FailingMemory.protocol, FailingMemory, clobber=True)


@pytest.fixture
async def remote_storage() -> AsyncIterator[RemoteFileSystem]:
    """Prefect's default result storage, for this test only: a saved block on the failing memory."""
    name = f"ledger-{uuid.uuid4().hex[:12]}"
    block = RemoteFileSystem(basepath=f"{FailingMemory.protocol}://{name}")
    await block.save(name)
    with temporary_settings({PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: f"remote-file-system/{name}"}):
        yield block
    FailingMemory.failing = False


async def _approved(action: Action, fresh: bool = False) -> ReviewVerdict:
    """An approved verdict; `fresh`: as if this process had opened its review (commit's short path)."""
    verdict = ReviewVerdict(
        review_id=uuid.uuid4().hex[:12],
        outcome=Outcome.APPROVED,
        content_hash=content_hash([action]),
        actions=[action],
        flow_run_id=await new_flow_run_id(),
    )
    if fresh:
        note_opened_here(verdict.review_id)
    return verdict


def _keys(verdict: ReviewVerdict) -> tuple[str, str]:
    return ledger_keys(idempotency_key(verdict.review_id, 0, verdict.content_hash))


async def _records(verdict: ReviewVerdict) -> list[str]:
    """The keys of the commit records on the verdict's flow run, suffixes only."""
    prefix = review_prefix(verdict.review_id)
    async with get_client() as client:
        inputs = await client.filter_flow_run_input(verdict.flow_run_id, prefix, 100, set())  # type: ignore[arg-type]
    return sorted(re.sub(r"^.*-[0-9a-f]{16}-", "", i.key) for i in inputs)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.mark.parametrize("fresh", [False, True], ids=["opened-elsewhere", "opened-here"])
async def test_an_executor_that_says_it_did_not_happen_can_be_retried_and_then_runs_once(
    tmp_path: Path, remote_storage: RemoteFileSystem, fresh: bool
) -> None:
    out = tmp_path / "out.txt"
    verdict = await _approved(LedgerAppend(path=str(out), line="sent once", fail_once="before"), fresh)

    with pytest.raises(ActionNotPerformed, match="refused the connection"):
        await commit(verdict, executors=EXECUTORS)
    assert _lines(out) == []
    first = await commit(verdict, executors=EXECUTORS)  # attempt 0 was cleared: attempt 1 may run
    again = await commit(verdict, executors=EXECUTORS)

    assert [first.outcomes[0].replayed, again.outcomes[0].replayed] == [False, True]
    assert again.outcomes[0].result == {"written": "sent once"}
    assert _lines(out) == ["sent once"]
    # The records are the run's write-once inputs on the server, not files in result storage.
    assert await _records(verdict) == ["claim-0", "claim-1", "cleared-0", "outcome"]
    outcome_key, intent_key = _keys(verdict)
    local = Path(os.environ["PREFECT_LOCAL_STORAGE_PATH"])
    assert not (local / outcome_key).exists() and not (local / intent_key).exists()


@pytest.mark.parametrize("fresh", [False, True], ids=["opened-elsewhere", "opened-here"])
async def test_an_executor_that_fails_after_its_side_effect_is_never_run_again(
    tmp_path: Path, fresh: bool
) -> None:
    out = tmp_path / "out.txt"
    verdict = await _approved(
        LedgerAppend(path=str(out), line="sent, then timed out", fail_once="after"), fresh
    )

    with pytest.raises(TimeoutError):
        await commit(verdict, executors=EXECUTORS)
    for _ in range(2):  # a retry, however it comes, does not send it again
        with pytest.raises(CommitInterrupted, match="outcome was never recorded"):
            await asyncio.wait_for(commit(verdict, executors=EXECUTORS), 10)

    assert _lines(out) == ["sent, then timed out"]


@pytest.mark.parametrize("fresh", [False, True], ids=["opened-elsewhere", "opened-here"])
async def test_an_intent_without_outcome_is_never_run_again(tmp_path: Path, fresh: bool) -> None:
    out = tmp_path / "out.txt"
    verdict = await _approved(LedgerAppend(path=str(out), line="half done", hang=True), fresh)
    running = asyncio.create_task(commit(verdict, executors=EXECUTORS))
    while not _lines(out):
        await asyncio.sleep(0.05)
    running.cancel()  # cancelled mid-action: it may have happened, so the intent stays
    with pytest.raises(asyncio.CancelledError):
        await running

    for _ in range(2):
        with pytest.raises(CommitInterrupted, match="outcome was never recorded"):
            await asyncio.wait_for(commit(verdict, executors=EXECUTORS), 10)
    assert _lines(out) == ["half done"]


@pytest.mark.parametrize("record", ["outcome", "intent"])
async def test_an_unreadable_earlier_ledger_record_is_never_taken_for_none(
    tmp_path: Path, remote_storage: RemoteFileSystem, record: str
) -> None:
    out = tmp_path / "out.txt"
    verdict = await _approved(LedgerAppend(path=str(out), line="committed before the upgrade"))
    outcome_key, intent_key = _keys(verdict)
    # `ResultStore.aexists` says False for this record, exactly as for a missing one.
    await remote_storage.awrite_path(outcome_key if record == "outcome" else intent_key, b"\x00 torn")

    with pytest.raises(CommitInterrupted, match="cannot be read"):
        await commit(verdict, executors=EXECUTORS)
    assert _lines(out) == []


async def test_a_result_storage_that_cannot_be_read_is_not_taken_for_an_empty_one(
    tmp_path: Path, remote_storage: RemoteFileSystem
) -> None:
    out = tmp_path / "out.txt"
    verdict = await _approved(LedgerAppend(path=str(out), line="once"))
    outcome_key, _ = _keys(verdict)
    store = ResultStore(result_storage=remote_storage)

    FailingMemory.failing = True
    assert await store.aexists(outcome_key) is False  # Prefect's answer: "absent", which is not known
    with pytest.raises(CommitInterrupted, match="ConnectionError: the object store is unreachable"):
        await commit(verdict, executors=EXECUTORS)
    assert _lines(out) == []

    FailingMemory.failing = False
    await commit(verdict, executors=EXECUTORS)
    FailingMemory.failing = True  # the outcome is on the server now: storage is not needed again
    again = await commit(verdict, executors=EXECUTORS)
    assert again.outcomes[0].replayed and _lines(out) == ["once"]


async def test_an_unreadable_claim_on_the_server_is_never_taken_for_none(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    verdict = await _approved(LedgerAppend(path=str(out), line="never"))
    assert verdict.flow_run_id is not None
    prefix = action_prefix(verdict.review_id, 0, idempotency_key(verdict.review_id, 0, verdict.content_hash))
    async with get_client() as client:  # someone with API access writes a record that is not one
        await client.create_flow_run_input(verdict.flow_run_id, f"{prefix}-claim-0", "not json")

    with pytest.raises(CommitInterrupted, match=r"record .*-claim-0 is unreadable"):
        await commit(verdict, executors=EXECUTORS)
    assert _lines(out) == []


class FailingApi:
    """The real Prefect API, except that reading run inputs fails while `failing` is set."""

    def __init__(self, api: ApiRequester) -> None:
        self.api, self.failing = api, False

    async def request(self, method: str, path: str, /, *, json: Any = None) -> httpx.Response:
        if self.failing and path.endswith("/input/filter"):
            raise httpx.ConnectError("the Prefect API is unreachable")
        return await self.api.request(method, path, json=json)


async def _one_action(out: Path) -> tuple[LedgerAppend, ReviewVerdict, str, Executor]:
    """An approved one-action verdict, its action's idempotency key, and its executor."""
    action = LedgerAppend(path=str(out), line="once")
    verdict = await _approved(action)
    key = idempotency_key(verdict.review_id, 0, verdict.content_hash)
    return action, verdict, key, EXECUTORS[action.kind]


async def test_a_ledger_that_cannot_be_read_runs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    action, verdict, key, run = await _one_action(out)
    async with open_api() as real:
        api = FailingApi(real)
        ledger = CommitLedger(api, verdict.flow_run_id)  # type: ignore[arg-type]
        await ledger.run_once(verdict.review_id, 0, action, key, run)
        api.failing = True
        with pytest.raises(ReviewGateError, match=r"could not read the commit ledger.*nothing was run"):
            await ledger.run_once(verdict.review_id, 0, action, key, run)
        api.failing = False
        assert (await ledger.run_once(verdict.review_id, 0, action, key, run)).replayed
    assert _lines(out) == ["once"]


class CountingApi:
    """The API, with the path of every request it was asked."""

    def __init__(self, api: ApiRequester) -> None:
        self.api, self.paths = api, list[str]()

    async def request(self, method: str, path: str, /, *, json: Any = None) -> httpx.Response:
        self.paths.append(path)
        return await self.api.request(method, path, json=json)


async def test_an_unclaimed_action_is_claimed_without_a_read_and_a_second_commit_still_replays(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.txt"
    action, verdict, key, run = await _one_action(out)
    async with open_api() as real:
        api = CountingApi(real)
        ledger = CommitLedger(api, verdict.flow_run_id)  # type: ignore[arg-type]
        first = await ledger.run_once(verdict.review_id, 0, action, key, run, unclaimed=True)
        reads_before_claim = [p for p in api.paths if p.endswith("/input/filter")]
        # Told "unclaimed" again (wrongly, or a retry in the same process): the claim's 409 leads
        # to the records, and the outcome is replayed.
        again = await ledger.run_once(verdict.review_id, 0, action, key, run, unclaimed=True)

    assert reads_before_claim == []
    assert [first.replayed, again.replayed] == [False, True]
    assert _lines(out) == ["once"]


async def test_a_verdict_without_a_flow_run_commits_nothing_outside_one(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    verdict = (await _approved(LedgerAppend(path=str(out), line="nowhere to record"))).model_copy(
        update={"flow_run_id": None}
    )
    with pytest.raises(ReviewGateError, match="commit needs the review's flow run"):
        await commit(verdict, executors=EXECUTORS)
    assert _lines(out) == []


def test_only_a_missing_key_counts_as_missing(tmp_path: Path) -> None:
    local = LocalFileSystem(basepath=str(tmp_path))
    remote = RemoteFileSystem(basepath=f"memory://missing-{uuid.uuid4().hex[:8]}")
    (tmp_path / "torn").write_bytes(b"\x00")

    assert _is_missing(_error_of(lambda: local.read_path("never-written")))
    assert _is_missing(_error_of(lambda: remote.read_path("never-written")))
    assert not _is_missing(_error_of(lambda: local.read_path(str(tmp_path))))  # a folder, not a record
    assert not _is_missing(PermissionError("denied"))
    assert not _is_missing(ValueError("Expecting value: line 1 column 1 (char 0)"))
    assert not _is_missing(ConnectionError("the storage is unreachable"))


def _error_of(read: Callable[[], object]) -> Exception:
    try:
        read()
    except Exception as exc:
        return exc
    raise AssertionError("the read did not fail")
