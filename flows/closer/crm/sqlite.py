"""The embedded CRM: one SQLite file, CLOSER's default and the demo's.

Writes are idempotent the way a real CRM's should be: notes and contacts carry the commit's
idempotency key in a UNIQUE column, so a retried commit finds the row the first attempt wrote; a
deal update is a compare-and-set (`model.pending_changes`) in one IMMEDIATE transaction, so a retry
writes nothing and a change someone made since the review is never overwritten.

Each call opens its own connection: executors may run in worker threads, and a connection must
not cross threads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.closer.crm.model import (
    Company,
    Contact,
    CrmError,
    CrmMissing,
    Deal,
    DealSnapshot,
    Note,
    WriteResult,
    pending_changes,
)

__all__ = ["SCHEMA", "SqliteCrm"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS stages (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS companies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    domain TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    company_id TEXT REFERENCES companies(id),
    idempotency_key TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    stage TEXT NOT NULL REFERENCES stages(id),
    amount REAL,
    company_id TEXT REFERENCES companies(id),
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deals_updated_at ON deals(updated_at);
CREATE TABLE IF NOT EXISTS deal_contacts (
    deal_id TEXT NOT NULL REFERENCES deals(id),
    contact_id TEXT NOT NULL REFERENCES contacts(id),
    PRIMARY KEY (deal_id, contact_id)
);
CREATE TABLE IF NOT EXISTS notes (
    id TEXT PRIMARY KEY,
    deal_id TEXT NOT NULL REFERENCES deals(id),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    idempotency_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS notes_deal ON notes(deal_id);
"""


def _stamp(moment: datetime) -> str:
    # One format, always UTC: stored times then compare correctly as strings.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class SqliteCrm:
    """A CRM in one SQLite file (`Crm`). `create` makes an empty one; `open` refuses a missing file."""

    def __init__(self, path: Path, clock: Any = None) -> None:
        self.path = path
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def open(cls, path: str | Path) -> SqliteCrm:
        """The CRM in `path`, which must exist (a typo must not silently start an empty CRM).

        Raises:
            CrmError: there is no such file.
        """
        file = Path(path).expanduser()
        if not file.is_file():
            raise CrmError(
                f"no CRM database at {file}: create the demo one with "
                f"`python -m prefect_review_gate.flows.closer.crm seed {file}`, or set REVIEW_GATE_CRM_PATH"
            )
        return cls(file)

    @classmethod
    def create(cls, path: str | Path) -> SqliteCrm:
        """A CRM in `path` with the schema in place (an existing file keeps its rows)."""
        file = Path(path).expanduser()
        file.parent.mkdir(parents=True, exist_ok=True)
        crm = cls(file)
        with crm._connect() as db:
            db.executescript(SCHEMA)
        return crm

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise CrmError(f"cannot open the CRM database {self.path}: {exc}") from None
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA foreign_keys = ON")
            if write:
                # IMMEDIATE: the read-compare-write of an update holds the write lock throughout.
                db.execute("BEGIN IMMEDIATE")
            yield db
            if write:
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise CrmError(f"the CRM database {self.path} failed: {exc}") from None
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    # --- reads ------------------------------------------------------------------------------------

    def stages(self) -> list[str]:
        with self._connect() as db:
            return [row["id"] for row in db.execute("SELECT id FROM stages ORDER BY position")]

    def changed_deals(self, since: datetime, limit: int) -> list[Deal]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM deals WHERE updated_at >= ? ORDER BY updated_at, id LIMIT ?",
                (_stamp(since), limit),
            ).fetchall()
            return [self._deal(db, row) for row in rows]

    def snapshot(self, deal_id: str) -> DealSnapshot | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM deals WHERE id = ?", (deal_id,)).fetchone()
            if row is None:
                return None
            deal = self._deal(db, row)
            contacts = self._contacts(db, deal.contact_ids)
            company = self._companies(db, [deal.company_id] if deal.company_id else [])
            notes = db.execute(
                "SELECT * FROM notes WHERE deal_id = ? ORDER BY created_at, id", (deal_id,)
            ).fetchall()
        return DealSnapshot(
            deal=deal,
            contacts=tuple(contacts[c] for c in deal.contact_ids if c in contacts),
            company=company.get(deal.company_id or ""),
            notes=tuple(_note(n) for n in notes),
        )

    def deals(self, ids: Iterable[str]) -> dict[str, Deal]:
        wanted = sorted(set(ids))
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM deals WHERE id IN ({','.join('?' * len(wanted))})", wanted
            ).fetchall()
            return {row["id"]: self._deal(db, row) for row in rows}

    def contacts(self, ids: Iterable[str]) -> dict[str, Contact]:
        with self._connect() as db:
            return self._contacts(db, ids)

    def contacts_by_email(self, emails: Iterable[str]) -> dict[str, Contact]:
        wanted = sorted(set(emails))
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM contacts WHERE email IN ({','.join('?' * len(wanted))})", wanted
            ).fetchall()
        return {row["email"]: _contact(row) for row in rows}

    def companies(self, ids: Iterable[str]) -> dict[str, Company]:
        with self._connect() as db:
            return self._companies(db, ids)

    def _deal(self, db: sqlite3.Connection, row: sqlite3.Row) -> Deal:
        contact_ids = [
            r["contact_id"]
            for r in db.execute(
                "SELECT contact_id FROM deal_contacts WHERE deal_id = ? ORDER BY contact_id", (row["id"],)
            )
        ]
        return Deal(
            id=row["id"],
            name=row["name"],
            stage=row["stage"],
            amount=row["amount"],
            company_id=row["company_id"],
            contact_ids=tuple(contact_ids),
            updated_at=_time(row["updated_at"]),
        )

    def _contacts(self, db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, Contact]:
        wanted = sorted(set(ids))
        rows = db.execute(
            f"SELECT * FROM contacts WHERE id IN ({','.join('?' * len(wanted))})", wanted
        ).fetchall()
        return {row["id"]: _contact(row) for row in rows}

    def _companies(self, db: sqlite3.Connection, ids: Iterable[str]) -> dict[str, Company]:
        wanted = sorted(set(ids))
        rows = db.execute(
            f"SELECT * FROM companies WHERE id IN ({','.join('?' * len(wanted))})", wanted
        ).fetchall()
        return {row["id"]: Company(id=row["id"], name=row["name"], domain=row["domain"]) for row in rows}

    # --- writes -----------------------------------------------------------------------------------

    def update_deal(
        self, deal_id: str, changes: Mapping[str, Any], before: Mapping[str, Any], key: str
    ) -> WriteResult:
        with self._connect(write=True) as db:
            row = db.execute("SELECT * FROM deals WHERE id = ?", (deal_id,)).fetchone()
            if row is None:
                raise CrmMissing(f"no deal {deal_id} in the CRM")
            deal = self._deal(db, row)
            todo = pending_changes(deal, changes, before)
            if (
                "stage" in todo
                and not db.execute("SELECT 1 FROM stages WHERE id = ?", (todo["stage"],)).fetchone()
            ):
                raise CrmMissing(f"no stage {todo['stage']!r} in the CRM's pipeline")
            if "contact_ids" in todo:
                ids = list(todo.pop("contact_ids"))
                missing = sorted(set(ids) - set(self._contacts(db, ids)))
                if missing:
                    raise CrmMissing(f"no contact {', '.join(missing)} in the CRM")
                db.execute("DELETE FROM deal_contacts WHERE deal_id = ?", (deal_id,))
                db.executemany(
                    "INSERT INTO deal_contacts (deal_id, contact_id) VALUES (?, ?)",
                    [(deal_id, c) for c in sorted(set(ids))],
                )
                todo["contact_ids"] = ids  # for the report below
            columns = {k: v for k, v in todo.items() if k in {"name", "stage", "amount"}}
            columns["updated_at"] = _stamp(self._clock())
            assignments = ", ".join(f"{column} = ?" for column in columns)  # names from a fixed set
            if todo:
                db.execute(f"UPDATE deals SET {assignments} WHERE id = ?", [*columns.values(), deal_id])
        detail = "; ".join(f"{field}: {deal.fields()[field]!r} -> {new!r}" for field, new in todo.items())
        return WriteResult(
            record=f"deal {deal_id}",
            written=bool(todo),
            detail=detail or "the deal already holds these values",
        )

    def log_note(self, deal_id: str, body: str, key: str) -> WriteResult:
        with self._connect(write=True) as db:
            done = db.execute("SELECT id FROM notes WHERE idempotency_key = ?", (key,)).fetchone()
            if done is not None:
                return WriteResult(
                    record=f"note {done['id']}",
                    written=False,
                    detail="logged by an earlier attempt (same key)",
                )
            if not db.execute("SELECT 1 FROM deals WHERE id = ?", (deal_id,)).fetchone():
                raise CrmMissing(f"no deal {deal_id} in the CRM")
            note_id = _next_id(db, "notes")
            db.execute(
                "INSERT INTO notes (id, deal_id, body, created_at, idempotency_key) VALUES (?, ?, ?, ?, ?)",
                (note_id, deal_id, body, _stamp(self._clock()), key),
            )
            db.execute("UPDATE deals SET updated_at = ? WHERE id = ?", (_stamp(self._clock()), deal_id))
        return WriteResult(record=f"note {note_id}", written=True, detail=f"on deal {deal_id}")

    def create_contact(self, name: str, email: str, company_id: str, key: str) -> WriteResult:
        with self._connect(write=True) as db:
            done = db.execute(
                "SELECT id, idempotency_key FROM contacts WHERE idempotency_key = ? OR email = ?",
                (key, email),
            ).fetchone()
            if done is not None:
                # The same key: an earlier attempt wrote it. The same address: the contact exists
                # already, and a CRM holds one contact per address.
                same = done["idempotency_key"] == key
                why = "created by an earlier attempt (same key)" if same else f"{email} was already a contact"
                return WriteResult(record=f"contact {done['id']}", written=False, detail=why)
            if not db.execute("SELECT 1 FROM companies WHERE id = ?", (company_id,)).fetchone():
                raise CrmMissing(f"no company {company_id} in the CRM")
            contact_id = _next_id(db, "contacts")
            db.execute(
                "INSERT INTO contacts (id, name, email, company_id, idempotency_key, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (contact_id, name, email, company_id, key, _stamp(self._clock())),
            )
        return WriteResult(record=f"contact {contact_id}", written=True, detail=f"{name} <{email}>")

    def close(self) -> None:
        pass  # every call closes its own connection


def _next_id(db: sqlite3.Connection, table: str) -> str:
    # Numeric string ids, like HubSpot's; inside the write transaction, so no two writers share one.
    row = db.execute(f"SELECT MAX(CAST(id AS INTEGER)) AS top FROM {table}").fetchone()
    return str(int(row["top"] or 0) + 1)


def _contact(row: sqlite3.Row) -> Contact:
    return Contact(id=row["id"], name=row["name"], email=row["email"], company_id=row["company_id"])


def _note(row: sqlite3.Row) -> Note:
    return Note(id=row["id"], deal_id=row["deal_id"], body=row["body"], created_at=_time(row["created_at"]))
