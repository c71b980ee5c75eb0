"""The commit ledger on remote result storage: an fsspec file system that is not a local folder.

Prefect's `RemoteFileSystem` block on `memory://` is a real non-local storage (what S3 or GCS
would be, without the network): the ledger must keep its promises there through the ResultStore
API alone. Side effects are lines appended to real files, counted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Literal

import pytest
from prefect.filesystems import LocalFileSystem, RemoteFileSystem
from prefect.settings import PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK, temporary_settings

from prefect_review_gate.gates import Action, Executors, Outcome, ReviewVerdict, commit, content_hash
from prefect_review_gate.gates.commit import idempotency_key
from prefect_review_gate.gates.errors import CommitInterrupted
from prefect_review_gate.gates.ledger import _is_missing, ledger_keys

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]


class LedgerAppend(Action):
    """Appends `line` to `path`; may fail cleanly once first, or hang after its side effect."""

    kind: Literal["test.ledger_append"] = "test.ledger_append"
    path: str
    line: str
    fail_once: bool = False
    hang: bool = False


EXECUTORS = Executors()


@EXECUTORS.register("test.ledger_append")
async def _append(action: LedgerAppend, key: str) -> dict[str, str]:
    failed = Path(action.path + ".failed")
    if action.fail_once and not failed.exists():
        failed.touch()
        raise RuntimeError("the mail server refused the connection")  # before any side effect
    with open(action.path, "a", encoding="utf-8") as handle:
        handle.write(action.line + "\n")
    if action.hang:
        await asyncio.Event().wait()  # the side effect happened; the run is cancelled right here
    return {"written": action.line}


@pytest.fixture
async def remote_storage() -> AsyncIterator[RemoteFileSystem]:
    """Prefect's default result storage, for this test only: a saved `memory://` block."""
    name = f"ledger-{uuid.uuid4().hex[:12]}"
    block = RemoteFileSystem(basepath=f"memory://{name}")
    await block.save(name)
    with temporary_settings({PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK: f"remote-file-system/{name}"}):
        yield block


def _approved(action: Action) -> ReviewVerdict:
    return ReviewVerdict(
        review_id=uuid.uuid4().hex[:12],
        outcome=Outcome.APPROVED,
        content_hash=content_hash([action]),
        actions=[action],
    )


def _keys(verdict: ReviewVerdict) -> tuple[str, str]:
    return ledger_keys(idempotency_key(verdict.review_id, 0, verdict.content_hash))


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


async def test_a_clean_failure_on_remote_storage_can_be_retried_and_then_runs_once(
    tmp_path: Path, remote_storage: RemoteFileSystem
) -> None:
    out = tmp_path / "out.txt"
    verdict = _approved(LedgerAppend(path=str(out), line="sent once", fail_once=True))

    with pytest.raises(RuntimeError, match="refused the connection"):
        await commit(verdict, executors=EXECUTORS)
    assert _lines(out) == []
    first = await commit(verdict, executors=EXECUTORS)  # the failure left a cleared intent, not a stuck one
    again = await commit(verdict, executors=EXECUTORS)

    assert [first.outcomes[0].replayed, again.outcomes[0].replayed] == [False, True]
    assert again.outcomes[0].result == {"written": "sent once"}
    assert _lines(out) == ["sent once"]
    outcome_key, intent_key = _keys(verdict)
    assert await remote_storage.aread_path(outcome_key)  # the records live in the remote storage...
    assert await remote_storage.aread_path(intent_key)
    local = Path(os.environ["PREFECT_LOCAL_STORAGE_PATH"])
    assert not (local / outcome_key).exists() and not (local / intent_key).exists()  # ...not here


async def test_an_intent_without_outcome_on_remote_storage_is_never_run_again(
    tmp_path: Path, remote_storage: RemoteFileSystem
) -> None:
    out = tmp_path / "out.txt"
    verdict = _approved(LedgerAppend(path=str(out), line="half done", hang=True))
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
async def test_an_unreadable_record_on_remote_storage_is_never_taken_for_none(
    tmp_path: Path, remote_storage: RemoteFileSystem, record: str
) -> None:
    out = tmp_path / "out.txt"
    verdict = _approved(LedgerAppend(path=str(out), line="committed"))
    outcome_key, intent_key = _keys(verdict)
    if record == "outcome":
        await commit(verdict, executors=EXECUTORS)
    # `ResultStore.aexists` says False for this record, exactly as for a missing one.
    await remote_storage.awrite_path(outcome_key if record == "outcome" else intent_key, b"\x00 torn")

    with pytest.raises(CommitInterrupted, match="cannot be read"):
        await commit(verdict, executors=EXECUTORS)
    assert _lines(out) == (["committed"] if record == "outcome" else [])


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
