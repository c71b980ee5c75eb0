"""`commit`: run approved actions exactly once, and nothing at all for any other verdict.

Every action gets an idempotency key (review id, index, content hash). The ledger records, in
Prefect's result storage, first the intent to run an action and then its outcome, under a lock:
- an outcome on record is returned instead of running the action again (retries, re-runs after a
  suspend, a second process racing for the same commit);
- an intent without an outcome means a process died mid-action: the action may have happened, so
  it is not run again (`CommitInterrupted`) until a person resolves it.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.results import ResultStore, aget_default_result_storage
from prefect.serializers import JSONSerializer
from prefect.settings import get_current_settings
from prefect.states import Cancelled
from pydantic import BaseModel, Field, SerializeAsAny

from prefect_review_gate.gates.actions import Action, content_hash
from prefect_review_gate.gates.decision import Outcome, ReviewVerdict
from prefect_review_gate.gates.executors import executor_for
from prefect_review_gate.validators.errors import (
    CommitInterrupted,
    ContentMismatch,
    ReviewClosed,
    ReviewExpired,
    ReviewRejected,
)

__all__ = ["ActionOutcome", "CommitReport", "commit", "idempotency_key", "outcome_state"]

_EVENT_NAMESPACE = uuid.UUID("6d0f3d1e-2b6a-4c59-a1c3-7f9e0b8a5d21")
_LOCK_WAIT_SECONDS = 60.0
_LOCK_POLL_SECONDS = 0.05


class ActionOutcome(BaseModel):
    index: int
    kind: str
    idempotency_key: str
    result: Any = None
    replayed: bool = Field(default=False, description="True when the recorded outcome was returned instead.")


class CommitReport(BaseModel):
    review_id: str
    content_hash: str
    actions: list[SerializeAsAny[Action]]
    outcomes: list[ActionOutcome]


def idempotency_key(review_id: str, index: int, digest: str) -> str:
    return f"{review_id}:{index}:{digest}"


def outcome_state(closed: ReviewClosed) -> State[Any]:
    """The final flow-run state for a review that ended without approval: `Rejected` or `Expired`.

    A Cancelled state, not Failed: the run did what it should (it stopped), nothing crashed, and
    flow retries must not ask again.
    """
    return Cancelled(name=closed.state_name, message=str(closed))


async def commit(verdict: ReviewVerdict, actions: Sequence[Action] | None = None) -> CommitReport:
    """Run the verdict's approved actions once each, or raise for any other verdict.

    Args:
        verdict: what `request_review` returned.
        actions: optionally, the actions the caller means to commit; they must be exactly the
            content the verdict was made on (after any reviewer's edit, the edited content).

    Raises:
        ReviewRejected, ReviewExpired: the review ended without approval; nothing ran.
        ContentMismatch: the content differs from what was approved; nothing ran.
        CommitInterrupted: an earlier attempt died in the middle of an action.
        ReviewGateError: an action kind has no executor; nothing ran.
    """
    if verdict.outcome is Outcome.REJECTED:
        raise ReviewRejected(f"review {verdict.review_id} was rejected: {verdict.reason}", verdict)
    if verdict.outcome is Outcome.EXPIRED:
        raise ReviewExpired(f"review {verdict.review_id} expired: {verdict.reason}", verdict)
    approved = list(verdict.actions)
    if content_hash(approved) != verdict.content_hash:
        raise ContentMismatch(
            f"review {verdict.review_id}: the approved actions do not match their content hash"
        )
    if actions is not None and content_hash(actions) != verdict.content_hash:
        raise ContentMismatch(
            f"review {verdict.review_id} approved other content than the actions given to commit; "
            "commit verdict.actions (a reviewer may have edited them) or request a new review"
        )
    runners = [executor_for(action) for action in approved]  # every executor exists before any runs
    ledger = await CommitLedger.default()
    outcomes = []
    for index, (action, run) in enumerate(zip(approved, runners, strict=True)):
        key = idempotency_key(verdict.review_id, index, verdict.content_hash)
        outcomes.append(await ledger.run_once(index, action, key, run))
    report = CommitReport(
        review_id=verdict.review_id, content_hash=verdict.content_hash, actions=approved, outcomes=outcomes
    )
    _announce_commit(report)
    return report


def _announce_commit(report: CommitReport) -> None:
    """Emit `review_gate.committed`, related to the flow run committing, once per review and content."""
    context = FlowRunContext.get()
    related = []
    if context is not None and context.flow_run is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{context.flow_run.id}",
                "prefect.resource.role": "flow-run",
            }
        )
    emit_event(
        event="review_gate.committed",
        resource={"prefect.resource.id": f"review-gate.review.{report.review_id}"},
        related=related,
        payload={
            "review_id": report.review_id,
            "content_hash": report.content_hash,
            "actions": [o.kind for o in report.outcomes],
            "replayed": [o.replayed for o in report.outcomes],
        },
        # One id per review and content: a retry that replays the outcomes does not announce them again.
        id=uuid.uuid5(_EVENT_NAMESPACE, f"{report.review_id}:{report.content_hash}:committed"),
    )


class CommitLedger:
    """Intent and outcome records of committed actions in Prefect result storage, under file locks.

    Locks serialize racing commits of the same action, in one process or in many. They are the
    operating system's: a process that dies, however it dies, holds none, and the intent record,
    not the lock, is what stops a second run of an action that may have happened.
    """

    def __init__(self, store: ResultStore, lock_directory: Path) -> None:
        self.store = store
        self.lock_directory = lock_directory

    @classmethod
    async def default(cls) -> CommitLedger:
        home = Path(get_current_settings().home).expanduser()
        store = ResultStore(result_storage=await aget_default_result_storage(), serializer=JSONSerializer())
        return cls(store, home / "review-gate" / "locks")

    async def run_once(self, index: int, action: Action, key: str, run: Any) -> ActionOutcome:
        record_key = "review-gate-commit-" + hashlib.sha256(key.encode()).hexdigest()
        intent_key = record_key + "-intent"
        lock = _FileLock(self.lock_directory / f"{record_key}.lock")
        if not await lock.acquire(_LOCK_WAIT_SECONDS):
            raise CommitInterrupted(f"action {index} ({action.kind}) is being committed by another process")
        try:
            if await self.store.aexists(record_key):
                recorded = await self.store.aread(record_key)
                return ActionOutcome.model_validate({**recorded.result, "replayed": True})
            if await self.store.aexists(intent_key):
                raise CommitInterrupted(
                    f"action {index} ({action.kind}, key {key}) was started but its outcome was never "
                    "recorded: it may have happened. Check it, then resolve it by hand."
                )
            await self.store.awrite(key=intent_key, obj={"key": key, "kind": action.kind})
            try:
                result = run(action, key)
                if inspect.isawaitable(result):
                    result = await result
            except Exception:
                # A clean failure means it did not happen: forget the intent so a retry may run it.
                _forget(self.store, intent_key)
                raise
            outcome = ActionOutcome(index=index, kind=action.kind, idempotency_key=key, result=result)
            await self.store.awrite(key=record_key, obj=outcome.model_dump(mode="json"))
            return outcome
        finally:
            lock.release()


class _FileLock:
    """An exclusive lock on a file (flock, or msvcrt on Windows), polled without blocking the loop.

    Not Prefect's FileSystemLockManager: its lock file outlives a killed holder until it expires,
    a racing reader can find it empty and fail, and it waits with `time.sleep` inside async code,
    which stalls a second commit on the same event loop until it times out.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def acquire(self, timeout: float) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        try:
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                await asyncio.sleep(_LOCK_POLL_SECONDS)
        except BaseException:  # cancelled while waiting: do not leak the descriptor
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                _unlock(fd)
            finally:
                os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _forget(store: ResultStore, key: str) -> None:
    basepath = getattr(store.result_storage, "basepath", None)
    if basepath is not None:
        (Path(basepath).expanduser() / key).unlink(missing_ok=True)
