"""The server's durable outbox: every decision click it acknowledges, kept on disk until its run has it.

A click is written here before Slack gets its ack, then delivered (`delivery`). While Prefect is
unreachable or busy the entry waits and is tried again; a restarted `review-gate serve` finds it
here and goes on. One SQLite file (stdlib `sqlite3`, WAL, `synchronous=FULL`), by default
`$PREFECT_HOME/review-gate/slack-decisions.sqlite` (`REVIEW_GATE_SLACK_QUEUE`). One server per file:
an OS lock beside it (`.lock`) refuses a second one, and goes with its holder however it dies.

An entry is keyed by (review, content hash, Slack user): the decision rule lets a person decide
given content once, so a second click of theirs, or ten concurrent copies of one, find the first
entry instead of making another. An entry refused for good may be replaced by a new click
(someone added to the group since tries again).

Writes are group-committed: clicks that arrive while a commit is under way go in the next one, so
a burst of clicks costs a few fsyncs, not one each, before its acks.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.file_lock import FileLock

__all__ = ["Added", "EntryState", "NewEntry", "Outbox", "QueuedDecision"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    review_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    user TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    signed TEXT NOT NULL,
    channel TEXT NOT NULL,
    message_ts TEXT NOT NULL,
    response_url TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    queued_at REAL NOT NULL,
    sending INTEGER NOT NULL DEFAULT 0,
    told_queued INTEGER NOT NULL DEFAULT 0,
    result TEXT NOT NULL DEFAULT '',
    UNIQUE (review_id, content_hash, user)
);
CREATE INDEX IF NOT EXISTS decisions_due ON decisions (state, next_at);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = (
    "id, review_id, content_hash, user, outcome, reason, signed, channel, message_ts, response_url, "
    "state, attempts, next_at, queued_at, sending, told_queued, result"
)


class EntryState(StrEnum):
    PENDING = "pending"  # not yet taken by its run
    DELIVERED = "delivered"  # the run took it (it counts, or the gate says why not on the review)
    REFUSED = "refused"  # it cannot take effect, for a reason that will not change


@dataclass(frozen=True)
class NewEntry:
    """A verified click, as it is written before the ack."""

    review_id: str
    content_hash: str
    user: str
    outcome: str
    reason: str
    signed: str  # the gate's button token as clicked: re-verified on every delivery
    channel: str
    message_ts: str
    response_url: str


@dataclass(frozen=True)
class QueuedDecision(NewEntry):
    id: int = 0
    state: EntryState = EntryState.PENDING
    attempts: int = 0
    next_at: float = 0.0
    queued_at: float = 0.0
    sending: bool = False  # a resume may have reached Prefect: check the run before sending again
    told_queued: bool = False
    result: str = ""  # what the clicker was told last


@dataclass(frozen=True)
class Added:
    entry: QueuedDecision
    is_new: bool  # False: the same person's click on this content was already here


def _entry(row: Sequence[Any]) -> QueuedDecision:
    (id_, review_id, content_hash, user, outcome, reason, signed, channel, ts, url) = row[:10]
    state, attempts, next_at, queued_at, sending, told, result = row[10:]
    return QueuedDecision(
        review_id=review_id,
        content_hash=content_hash,
        user=user,
        outcome=outcome,
        reason=reason,
        signed=signed,
        channel=channel,
        message_ts=ts,
        response_url=url,
        id=id_,
        state=EntryState(state),
        attempts=attempts,
        next_at=next_at,
        queued_at=queued_at,
        sending=bool(sending),
        told_queued=bool(told),
        result=result,
    )


class Outbox:
    """The SQLite file of decisions, used from one thread so that the event loop never waits on disk."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-gate-outbox")
        self._db: sqlite3.Connection | None = None
        self._batch: list[tuple[NewEntry, asyncio.Future[Added]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._lock = FileLock(path.with_name(path.name + ".lock"))

    # Lifecycle

    async def open(self) -> Outbox:
        """Create or open the file. Raises `DeliveryFailed` when it cannot be used."""
        try:
            locked = await self._lock.acquire(timeout=0)
        except OSError as exc:
            raise DeliveryFailed(f"cannot open the decision queue {self.path}: {exc}") from None
        if not locked:
            raise DeliveryFailed(
                f"another review-gate serve is using the decision queue {self.path}; "
                "give each server its own REVIEW_GATE_SLACK_QUEUE"
            )
        try:
            await self._run(self._open)
        except BaseException:
            self._lock.release()
            raise
        return self

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.path.touch(mode=0o600, exist_ok=True)  # reasons and response URLs are private
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # an acknowledged click survives a power cut too
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DeliveryFailed(f"cannot open the decision queue {self.path}: {exc}") from None
        self._db = db

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self._run(self._close)
        self._executor.shutdown(wait=True)
        self._lock.release()

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise DeliveryFailed("the decision queue is not open")
        return self._db

    # Adding, group-committed

    async def add(self, new: NewEntry) -> Added:
        """Store a click (or find the same person's earlier one). Durable when this returns."""
        future: asyncio.Future[Added] = asyncio.get_running_loop().create_future()
        self._batch.append((new, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._batch:
            batch, self._batch = self._batch, []
            entries = [new for new, _ in batch]
            try:
                added = await self._run(lambda: self._insert_all(entries))  # noqa: B023 (awaited here)
            except Exception as exc:
                failure = DeliveryFailed(f"cannot write the decision queue {self.path}: {exc}")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                continue
            for (_, future), result in zip(batch, added, strict=True):
                if not future.done():
                    future.set_result(result)

    def _insert_all(self, entries: list[NewEntry]) -> list[Added]:
        db = self._conn()
        now = self._clock()
        results = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for new in entries:
                row = db.execute(
                    f"""INSERT INTO decisions (review_id, content_hash, user, outcome, reason, signed,
                            channel, message_ts, response_url, state, next_at, queued_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)
                        ON CONFLICT (review_id, content_hash, user) DO UPDATE SET
                            outcome = excluded.outcome, reason = excluded.reason, signed = excluded.signed,
                            channel = excluded.channel, message_ts = excluded.message_ts,
                            response_url = excluded.response_url, state = 'pending', attempts = 0,
                            next_at = excluded.next_at, queued_at = excluded.queued_at, sending = 0,
                            told_queued = 0, result = ''
                        WHERE decisions.state = 'refused'
                        RETURNING {_COLUMNS}""",
                    (
                        new.review_id,
                        new.content_hash,
                        new.user,
                        new.outcome,
                        new.reason,
                        new.signed,
                        new.channel,
                        new.message_ts,
                        new.response_url,
                        now,
                        now,
                    ),
                ).fetchone()
                if row is not None:
                    results.append(Added(_entry(row), is_new=True))
                    continue
                existing = db.execute(
                    f"SELECT {_COLUMNS} FROM decisions WHERE review_id = ? AND content_hash = ? AND user = ?",
                    (new.review_id, new.content_hash, new.user),
                ).fetchone()
                results.append(Added(_entry(existing), is_new=False))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return results

    # Delivering

    async def due(self, now: float, exclude: set[int], limit: int = 64) -> list[QueuedDecision]:
        """Pending entries whose time has come, oldest first, except those being delivered."""

        def read() -> list[QueuedDecision]:
            rows = self._conn().execute(
                f"SELECT {_COLUMNS} FROM decisions WHERE state = 'pending' AND next_at <= ? "
                "ORDER BY next_at, id LIMIT ?",
                (now, limit + len(exclude)),
            )
            return [e for e in map(_entry, rows) if e.id not in exclude][:limit]

        return await self._run(read)

    async def next_due_at(self) -> float | None:
        """When the earliest pending entry is due, or None when nothing is pending."""

        def read() -> float | None:
            sql = "SELECT MIN(next_at) FROM decisions WHERE state = 'pending'"
            row = self._conn().execute(sql).fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._run(read)

    async def mark_sending(self, entry_id: int) -> None:
        """Before a resume leaves: after a crash, the run is asked whether it already has this decision."""
        await self._write("UPDATE decisions SET sending = 1 WHERE id = ?", (entry_id,))

    async def retry_at(self, entry_id: int, when: float, told_queued: bool, result: str) -> None:
        await self._write(
            "UPDATE decisions SET attempts = attempts + 1, next_at = ?, told_queued = ?, result = ? "
            "WHERE id = ? AND state = 'pending'",
            (when, int(told_queued), result, entry_id),
        )

    async def finish(self, entry_id: int, state: EntryState, result: str) -> None:
        await self._write(
            "UPDATE decisions SET state = ?, attempts = attempts + 1, result = ? WHERE id = ?",
            (state.value, result, entry_id),
        )

    async def entries(self) -> list[QueuedDecision]:
        """Every entry, oldest first (for `review-gate` tooling and tests)."""

        def read() -> list[QueuedDecision]:
            return [_entry(r) for r in self._conn().execute(f"SELECT {_COLUMNS} FROM decisions ORDER BY id")]

        return await self._run(read)

    # What this server has talked to

    async def get_meta(self, name: str) -> str | None:
        def read() -> str | None:
            row = self._conn().execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
            return None if row is None else str(row[0])

        return await self._run(read)

    async def set_meta(self, name: str, value: str) -> None:
        await self._write(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    async def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        def write() -> None:
            self._conn().execute(sql, params)

        try:
            await self._run(write)
        except sqlite3.Error as exc:
            raise DeliveryFailed(f"cannot write the decision queue {self.path}: {exc}") from None
