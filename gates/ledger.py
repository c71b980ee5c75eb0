"""The commit ledger: each approved action claimed once, on the Prefect server, before it runs.

The records (`commit_log`) are write-once inputs on the review's flow run. Every worker that runs
the flow, on any host, talks to that server, and the server creates a key at most once: the
process whose claim is created runs the action; every other one waits for its outcome and returns
it (`replayed`). Nothing is ever deleted or overwritten.

An executor that raises `ActionNotPerformed` says the action did not happen: the attempt is
cleared and a retry may claim the next one. Any other exception, a cancel or a dead process
leaves the claim without an outcome: the action may have happened, so it is not run again
(`CommitInterrupted`) until a person resolves it (`review-gate commits resolve`).

Ledgers before this one lived in Prefect result storage (`ledger_keys`). Before the first claim of
an action they are still read, so a commit made before an upgrade is not made again; a record there
that cannot be read counts as one that may have happened, never as absent.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import re
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from prefect.logging import get_logger
from prefect.results import ResultStore, aget_default_result_storage
from prefect.serializers import JSONSerializer
from pydantic import BaseModel, Field, ValidationError

from prefect_review_gate.gates.actions import Action
from prefect_review_gate.gates.commit_index import (
    EarlierAction,
    EarlierCommit,
    deciding_log,
    note_and_read_earlier,
)
from prefect_review_gate.gates.commit_log import (
    ActionLog,
    Claim,
    action_prefix,
    create_record,
    read_action_logs,
)
from prefect_review_gate.gates.errors import ActionNotPerformed, CommitInterrupted
from prefect_review_gate.gates.executors import Executor
from prefect_review_gate.gates.holder import Holder
from prefect_review_gate.gates.store import ApiRequester
from prefect_review_gate.gates.store_client import open_api
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["ActionOutcome", "CommitLedger", "ledger_keys"]

# How long a commit waits for another live process's outcome of the same action before refusing;
# the environment may set it (a team whose actions take longer, or a test).
WAIT_FOR_HOLDER_SECONDS = 60.0
WAIT_SETTING = "REVIEW_GATE_COMMIT_WAIT_SECONDS"
_POLL_SECONDS = 0.2
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
    """The result-storage keys of an action's outcome and intent in ledgers before this one."""
    record = "review-gate-commit-" + hashlib.sha256(idempotency_key.encode()).hexdigest()
    return record, record + "-intent"


class CommitLedger:
    """Runs each action of one review at most once, across processes and hosts sharing a Prefect server."""

    def __init__(
        self,
        api: ApiRequester,
        flow_run_id: UUID,
        old_ledger: ResultStore | None = None,
        *,
        wait_seconds: float = WAIT_FOR_HOLDER_SECONDS,
    ) -> None:
        self.api = api
        self.flow_run_id = flow_run_id
        self.old_ledger = old_ledger
        self.wait_seconds = wait_seconds

    @classmethod
    @asynccontextmanager
    async def open(cls, flow_run_id: UUID, *, legacy: bool = True) -> AsyncIterator[CommitLedger]:
        """The ledger on the review's flow run, on the API Prefect's settings name.

        `legacy`: also consult the ledger versions before this one kept in result storage; False
        when no such version can have opened the review (`fresh_reviews`).
        """
        old_ledger = None
        if legacy:
            old_ledger = ResultStore(
                result_storage=await aget_default_result_storage(),
                serializer=JSONSerializer(),
                # Another process may have written since: every check reads storage, not a memory of it.
                cache_result_in_memory=False,
            )
        async with open_api() as api:
            yield cls(api, flow_run_id, old_ledger, wait_seconds=_wait_seconds())

    async def earlier_commits(
        self, review_id: str, content_hash: str, flow_id: UUID | None = None
    ) -> list[EarlierCommit]:
        """The earlier runs of this flow that started committing this content, newest first; notes this one.

        `flow_id` is the flow of the ledger's run when the caller knows it (it commits inside that
        run); otherwise it is read from the API.

        Raises:
            ReviewGateError: the Prefect API could not be read or written; nothing ran.
        """
        try:
            if flow_id is None:
                response = await self.api.request("GET", f"/flow_runs/{self.flow_run_id}")
                response.raise_for_status()
                flow_id = UUID(str(response.json()["flow_id"]))
            earlier = await note_and_read_earlier(
                self.api, flow_id, content_hash, review_id, self.flow_run_id
            )
        except httpx.HTTPError as exc:
            raise ReviewGateError(
                f"could not read which runs committed review {review_id}'s content on the Prefect API "
                f"({type(exc).__name__}); nothing was run, try again"
            ) from exc
        return earlier

    async def run_once(
        self,
        review_id: str,
        index: int,
        action: Action,
        key: str,
        run: Executor,
        earlier: Sequence[EarlierAction] = (),
        *,
        unclaimed: bool = False,
    ) -> ActionOutcome:
        """Run `run(action, key)` unless its outcome is on record, or another process started it.

        `earlier` is the same action in the earlier runs of this flow that started committing this
        content, newest first (`commit_index`): interrupted in the most recent that got to it, it
        is refused here too; resolved there as run, it is recorded here as done and not run.

        `unclaimed`: nothing but the ledger on the server can hold a record of this action (no
        earlier run, no older ledger: `fresh_reviews`), so the first claim is posted without
        reading first. Every record of an action follows its first claim, so when anything is
        recorded that claim exists and the post gets 409; then the records are read as always.

        Raises:
            CommitInterrupted: an attempt started and never said how it ended (its process died, or
                its executor raised something other than `ActionNotPerformed`), another live
                process holds it past the wait, or a record is unreadable. The action did not run.
            ReviewGateError: the Prefect API could not be read; nothing ran.
        """
        prefix = action_prefix(review_id, index, key)
        where = f"action {index} ({action.kind}) of review {review_id}"
        if unclaimed and self.old_ledger is None and not earlier:
            outcome = await self._claim_and_run(prefix, 0, index, action, key, run, where)
            if outcome is not None:
                return outcome
        waiting_since: float | None = None
        while True:
            log = await self._log(prefix, where)
            done = _recorded(log, index, action.kind, key, where)
            if done is not None:
                return done
            held = log.open_claim
            if held is not None:
                attempt, claim = held
                if claim.holder.is_known_dead():
                    raise CommitInterrupted(
                        f"{where} was started (attempt {attempt}, {claim.holder.describe()}, "
                        f"{claim.at:%Y-%m-%d %H:%M:%S %Z}) and its outcome was never recorded: it may "
                        f"have happened, so it was not run again. Check it, then "
                        f"`review-gate commits resolve {review_id} --as NAME --ran|--did-not-run`."
                    )
                waiting_since = waiting_since if waiting_since is not None else time.monotonic()
                if time.monotonic() - waiting_since >= self.wait_seconds:
                    raise CommitInterrupted(
                        f"{where} is held by {claim.holder.describe()} since {claim.at:%Y-%m-%d %H:%M:%S %Z} "
                        f"with no outcome after {self.wait_seconds:.0f} s; it was not run here. If that "
                        f"process is gone, check the action, then `review-gate commits resolve {review_id}`."
                    )
                await asyncio.sleep(_POLL_SECONDS)
                continue
            if log.last_attempt is None:
                recorded = await self._old_ledger_outcome(index, action.kind, key, where)
                if recorded is not None:
                    return recorded
                if earlier:
                    run = await self._after_earlier_run(earlier, run, where)
            outcome = await self._claim_and_run(prefix, log.next_attempt, index, action, key, run, where)
            if outcome is not None:
                return outcome
            # Another process created this claim first: read again, and wait for its outcome.

    async def _after_earlier_run(
        self, earlier: Sequence[EarlierAction], run: Executor, where: str
    ) -> Executor:
        """`run`, or what stands for it when an earlier run of this content settles the action."""
        try:
            deciding = await deciding_log(self.api, earlier)
        except httpx.HTTPError as exc:
            raise ReviewGateError(
                f"could not read the earlier run's ledger of {where} ({type(exc).__name__}); nothing was run"
            ) from exc
        if deciding is None:
            return run
        same, log = deciding
        old = same.commit.review_id
        if log.open_claim is not None:
            raise CommitInterrupted(
                f"{where}: an earlier run of this flow (review {old}, flow run {same.commit.flow_run_id}) "
                f"was interrupted while committing this same content, and may have done it. Nothing was "
                f"run: check it, then `review-gate commits resolve {old} --as NAME --ran|--did-not-run`."
            )
        ran = log.resolved_ran
        if ran is None:
            return run
        done = {"done_by_review": old, "resolved_by": ran.by, "reason": ran.reason}

        def already_done(action: Action, key: str) -> dict[str, str]:
            return done  # the interrupted run did it, a person says: record it here, run nothing

        return already_done

    async def _claim_and_run(
        self, prefix: str, attempt: int, index: int, action: Action, key: str, run: Executor, where: str
    ) -> ActionOutcome | None:
        holder = Holder.current()
        claim = Claim(index=index, kind=action.kind, idempotency_key=key, holder=holder, at=datetime.now(UTC))
        holder.hold()  # before the claim exists: a racer in this process must not take it for dead
        try:
            if not await self._create(f"{prefix}-claim-{attempt}", claim, where):
                return None
            try:
                result = run(action, key)
                if inspect.isawaitable(result):
                    result = await result
            except ActionNotPerformed as exc:
                await self._clear(f"{prefix}-cleared-{attempt}", str(exc), where)
                raise
            except Exception:
                _logger.warning(
                    "%s raised after it started: it may have happened, so its intent stays until a person "
                    "resolves it (`review-gate commits resolve`)",
                    where,
                )
                raise
            outcome = ActionOutcome(index=index, kind=action.kind, idempotency_key=key, result=result)
            try:
                recorded = outcome.model_dump(mode="json", exclude={"replayed"})
                await self._create(f"{prefix}-outcome", recorded, where)
            except Exception as exc:
                raise CommitInterrupted(
                    f"{where} ran, but its outcome could not be recorded ({type(exc).__name__}: {exc}); "
                    "it will not run again. Resolve it as run with `review-gate commits resolve`."
                ) from exc
            return outcome
        finally:
            holder.let_go()

    async def _log(self, prefix: str, where: str) -> ActionLog:
        try:
            logs = await read_action_logs(self.api, self.flow_run_id, prefix + "-")
        except httpx.HTTPError as exc:
            raise ReviewGateError(
                f"could not read the commit ledger of {where} on the Prefect API ({type(exc).__name__}); "
                "nothing was run, try again"
            ) from exc
        return logs.get(prefix, ActionLog(prefix))

    async def _create(self, record_key: str, value: BaseModel | dict[str, Any], where: str) -> bool:
        try:
            return await create_record(self.api, self.flow_run_id, record_key, value)
        except httpx.HTTPError as exc:
            raise ReviewGateError(
                f"could not write the commit ledger of {where} on the Prefect API ({type(exc).__name__})"
            ) from exc

    async def _clear(self, record_key: str, reason: str, where: str) -> None:
        try:
            await self._create(record_key, {"reason": reason[:500]}, where)
        except Exception:
            # The action's own error matters more to the caller; the claim stays, so a retry is
            # refused (CommitInterrupted) rather than run: closed, not open.
            _logger.warning("Could not clear the intent of %s after it did not happen", where, exc_info=True)

    async def _old_ledger_outcome(self, index: int, kind: str, key: str, where: str) -> ActionOutcome | None:
        """The outcome a ledger before this one recorded in result storage, or None when it has none."""
        if self.old_ledger is None:
            return None
        outcome_key, intent_key = ledger_keys(key)
        recorded = await _read(self.old_ledger, outcome_key, where)
        if recorded is not None:
            try:
                return ActionOutcome.model_validate({**recorded, "replayed": True})
            except ValidationError:
                raise _unreadable(where, outcome_key, "not an outcome record") from None
        intent = await _read(self.old_ledger, intent_key, where)
        # A record without a state is an intent too (ledgers written before `cleared` existed).
        if intent is not None and intent.get("state") != _CLEARED:
            raise CommitInterrupted(
                f"{where} was started but its outcome was never recorded: it may have happened. "
                "Check it, then resolve it by hand."
            )
        return None


# Whether one read of result storage has completed in this process. Until one has, reads go one at
# a time (one lock per event loop): remote storage clients are built on first use and cached by value
# (prefect-aws's `_get_client_cached`), but fifty commits reading at once all miss that cache and each
# builds its own boto3 client under prefect-aws's lock. Profiled in stack_bench on S3 (moto): 40% of
# a worker process's CPU, stalling every other run in it. The first read fills the cache for the rest.
_storage_warm = False
_first_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _read(store: ResultStore, record_key: str, where: str) -> dict[str, Any] | None:
    """The record at `record_key`, or None when storage says nothing was ever written there."""
    global _storage_warm
    if _storage_warm:
        return await _read_now(store, record_key, where)
    lock = _first_reads.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        record = await _read_now(store, record_key, where)
        _storage_warm = True
        return record


async def _read_now(store: ResultStore, record_key: str, where: str) -> dict[str, Any] | None:
    """The record at `record_key`, or None when storage says nothing was ever written there.

    Not `ResultStore.aexists`: it answers False on any read error too, and an outcome that
    could not be read, taken for a missing one, would run the action a second time.
    """
    try:
        record = await store.aread(record_key)
    except Exception as exc:
        if _is_missing(exc):
            return None
        raise _unreadable(where, record_key, f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(record.result, dict):
        raise _unreadable(where, record_key, "not a ledger record")
    return record.result


def _wait_seconds() -> float:
    value = os.environ.get(WAIT_SETTING, "").strip()
    if not value:
        return WAIT_FOR_HOLDER_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise InputError(f"{WAIT_SETTING} must be a positive number of seconds, not {value!r}")
    return seconds


def _recorded(log: ActionLog, index: int, kind: str, key: str, where: str) -> ActionOutcome | None:
    """The action's outcome when it is known to have happened: recorded, or resolved as run by a person."""
    if log.outcome is not None:
        try:
            return ActionOutcome.model_validate({**log.outcome, "replayed": True})
        except ValidationError:
            raise _unreadable(where, log.prefix + "-outcome", "not an outcome record") from None
    ran = log.resolved_ran
    if ran is not None:
        result = {"resolved_by": ran.by, "reason": ran.reason, "note": "a person resolved it as run"}
        return ActionOutcome(index=index, kind=kind, idempotency_key=key, result=result, replayed=True)
    return None


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
