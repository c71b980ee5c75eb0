"""The commit ledger: the intent and the outcome of every approved action, in Prefect result storage.

It talks to storage only through Prefect's `ResultStore` (read and write a record by key), so it
behaves the same on local storage and on remote storage (S3, GCS, any fsspec file system). Nothing
is ever deleted: an action that failed cleanly gets a `cleared` record over its intent instead.

Two records per action, keyed by a digest of its idempotency key:
- `<record>-intent`: `intent` before the action runs; `cleared` when it raised, meaning it did
  not happen and a retry may run it;
- `<record>`: the outcome, once the action returned.

An outcome on record is returned instead of running the action again. An intent without an
outcome means a process died (or was cancelled) mid-action: it may have happened, so it is not run
again (`CommitInterrupted`). A record that cannot be read counts the same way, never as absent.
"""

from __future__ import annotations

import hashlib
import inspect
import re
from pathlib import Path
from typing import Any

from prefect.logging import get_logger
from prefect.results import ResultStore, aget_default_result_storage
from prefect.serializers import JSONSerializer
from prefect.settings import get_current_settings
from pydantic import BaseModel, Field, ValidationError

from prefect_review_gate.gates.actions import Action
from prefect_review_gate.gates.errors import CommitInterrupted
from prefect_review_gate.gates.executors import Executor
from prefect_review_gate.gates.file_lock import FileLock

__all__ = ["ActionOutcome", "CommitLedger", "ledger_keys"]

_LOCK_WAIT_SECONDS = 60.0
_INTENT = "intent"
_CLEARED = "cleared"
# Prefect's LocalFileSystem reports a missing file this way (a plain ValueError, nothing more typed).
_LOCAL_MISSING = re.compile(r"Path .* does not exist\.", re.DOTALL)
_logger = get_logger("prefect_review_gate.ledger")


class ActionOutcome(BaseModel):
    index: int
    kind: str
    idempotency_key: str
    result: Any = None
    replayed: bool = Field(default=False, description="True when the recorded outcome was returned instead.")


def ledger_keys(idempotency_key: str) -> tuple[str, str]:
    """The storage keys of an action's outcome and intent records."""
    record = "review-gate-commit-" + hashlib.sha256(idempotency_key.encode()).hexdigest()
    return record, record + "-intent"


class CommitLedger:
    """Runs each action at most once, recording its intent and outcome in a `ResultStore`.

    A file lock per action serializes racing commits, in one process or in many on one host (see
    `file_lock`); the intent record, not the lock, is what stops a second run of an action that
    may have happened.
    """

    def __init__(self, store: ResultStore, lock_directory: Path) -> None:
        self.store = store
        self.lock_directory = lock_directory

    @classmethod
    async def default(cls) -> CommitLedger:
        """The ledger in Prefect's default result storage, locks under `$PREFECT_HOME/review-gate/locks`."""
        home = Path(get_current_settings().home).expanduser()
        store = ResultStore(
            result_storage=await aget_default_result_storage(),
            serializer=JSONSerializer(),
            # Another process may have written since: every check reads storage, not a memory of it.
            cache_result_in_memory=False,
        )
        return cls(store, home / "review-gate" / "locks")

    async def run_once(self, index: int, action: Action, key: str, run: Executor) -> ActionOutcome:
        """Run `run(action, key)` unless its outcome or an unfinished intent is on record.

        Raises:
            CommitInterrupted: an earlier attempt started the action and never recorded how it
                ended, another process holds the action's lock too long, or a record is unreadable.
        """
        outcome_key, intent_key = ledger_keys(key)
        where = f"action {index} ({action.kind}, key {key})"
        lock = FileLock(self.lock_directory / f"{outcome_key}.lock")
        if not await lock.acquire(_LOCK_WAIT_SECONDS):
            raise CommitInterrupted(f"action {index} ({action.kind}) is being committed by another process")
        try:
            recorded = await self._read(outcome_key, where)
            if recorded is not None:
                try:
                    return ActionOutcome.model_validate({**recorded, "replayed": True})
                except ValidationError:
                    raise _unreadable(where, outcome_key, "not an outcome record") from None
            intent = await self._read(intent_key, where)
            # A record without a state is an intent too (ledgers written before `cleared` existed).
            if intent is not None and intent.get("state") != _CLEARED:
                raise CommitInterrupted(
                    f"{where} was started but its outcome was never recorded: it may have happened. "
                    "Check it, then resolve it by hand."
                )
            await self.store.awrite(key=intent_key, obj={"state": _INTENT, "key": key, "kind": action.kind})
            try:
                result = run(action, key)
                if inspect.isawaitable(result):
                    result = await result
            except Exception:
                # It raised, so it did not happen: clear the intent and let a retry run it. Only
                # Exception: a cancelled or killed run may have stopped half-way, and stays an intent.
                await self._clear(intent_key, key, action.kind)
                raise
            outcome = ActionOutcome(index=index, kind=action.kind, idempotency_key=key, result=result)
            await self.store.awrite(key=outcome_key, obj=outcome.model_dump(mode="json"))
            return outcome
        finally:
            lock.release()

    async def _read(self, record_key: str, where: str) -> dict[str, Any] | None:
        """The record at `record_key`, or None when storage says nothing was ever written there.

        Not `ResultStore.aexists`: it answers False on any read error too, and an outcome that
        could not be read, taken for a missing one, would run the action a second time.
        """
        try:
            record = await self.store.aread(record_key)
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise _unreadable(where, record_key, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(record.result, dict):
            raise _unreadable(where, record_key, "not a ledger record")
        return record.result

    async def _clear(self, intent_key: str, key: str, kind: str) -> None:
        try:
            await self.store.awrite(key=intent_key, obj={"state": _CLEARED, "key": key, "kind": kind})
        except Exception:
            # The action's own error matters more to the caller; the intent stays, so a retry is
            # refused (CommitInterrupted) rather than run: closed, not open.
            _logger.warning("Could not clear the intent of %s after it failed", key, exc_info=True)


def _unreadable(where: str, record_key: str, why: str) -> CommitInterrupted:
    return CommitInterrupted(
        f"the commit ledger's record {record_key} of {where} cannot be read ({why[:300]}): whether "
        "the action ran is unknown, so it was not run. Check the result storage, then resolve it by hand."
    )


def _is_missing(exc: Exception) -> bool:
    """True when a storage block's read failed because nothing was ever written at the key.

    Every storage says so its own way. What is not recognised here counts as unreadable: on an
    unknown storage the ledger refuses to commit rather than risk running an action twice.
    """
    if isinstance(exc, FileNotFoundError):  # fsspec storages: RemoteFileSystem, s3fs, gcsfs, adlfs
        return True
    if type(exc) is ValueError and _LOCAL_MISSING.fullmatch(str(exc)):  # Prefect's LocalFileSystem
        return True
    # Object stores' own clients: botocore's ClientError (prefect-aws's S3Bucket) carries the S3
    # error code; google-api-core's NotFound (prefect-gcp's GcsBucket) the HTTP status.
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    if isinstance(error, dict) and error.get("Code") in {"404", "NoSuchKey"}:
        return True
    return getattr(exc, "code", None) == 404
