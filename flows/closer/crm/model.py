"""What CLOSER reads from and writes to a CRM, whichever CRM it is: the records and the `Crm` interface.

Records are pydantic models, so a snapshot read before the gate can be persisted as a task result
and come back unchanged after a suspend. Ids are strings in every backend (HubSpot's are numeric
strings; the SQLite demo CRM uses the same shape).

Reads are free. Writes happen only from an approved action's executor, and each one is idempotent
under the commit's idempotency key: a retried commit finds what the first one wrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from prefect_review_gate.validators.errors import ReviewGateError

__all__ = [
    "Company",
    "Contact",
    "Crm",
    "CrmConflict",
    "CrmError",
    "CrmMissing",
    "Deal",
    "DealSnapshot",
    "Note",
    "WriteResult",
    "pending_changes",
]


class CrmError(ReviewGateError):
    """The CRM could not be read or written: unreachable, refused, or answered something unusable."""


class CrmMissing(CrmError):
    """A write names a record the CRM does not have (a deal, contact or company id); nothing was written.

    Permanent, unlike an outage: no retry can make it happen. Executors record it as the action's
    outcome ("not written") rather than failing the commit, so the other approved actions still
    commit and the report says which one could not.
    """


class CrmConflict(CrmError):
    """A write would overwrite a value someone changed since the action was reviewed; nothing was written."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Company(_Record):
    id: str
    name: str
    domain: str = ""


class Contact(_Record):
    id: str
    name: str
    email: str
    company_id: str | None = None


class Note(_Record):
    id: str
    deal_id: str
    body: str
    created_at: datetime


class Deal(_Record):
    id: str
    name: str
    stage: str
    amount: float | None = None
    company_id: str | None = None
    contact_ids: tuple[str, ...] = ()
    updated_at: datetime

    def fields(self) -> dict[str, Any]:
        """The deal as the validators' CRM snapshot holds it (`validators.world.DEAL_FIELDS`)."""
        return {
            "id": self.id,
            "name": self.name,
            "stage": self.stage,
            "amount": self.amount,
            "contact_ids": list(self.contact_ids),
        }


class DealSnapshot(_Record):
    """One deal with what the agent needs to work on it: its contacts, company and notes."""

    deal: Deal
    contacts: tuple[Contact, ...] = ()
    company: Company | None = None
    notes: tuple[Note, ...] = Field(default=(), description="Oldest first.")


class WriteResult(_Record):
    """What a write did, for the commit report: which record, and whether this call created it."""

    record: str = Field(description="`deal 1001`, `note 5003`, `contact 2009`.")
    written: bool = Field(description="False when there was nothing left to write (see `detail`).")
    detail: str = Field(default="", description="What was written, or why nothing was.")

    def report(self) -> dict[str, str]:
        """The executor's result, as the commit report and the demo show it."""
        done = "written" if self.written else "nothing written"
        summary = f"{self.record}: {done}" + (f" ({self.detail})" if self.detail else "")
        return {"record": self.record, "done": done, "detail": self.detail, "summary": summary}


class Crm(Protocol):
    """A CRM CLOSER can work with. Reads return what exists now; writes are idempotent by `key`."""

    def stages(self) -> list[str]:
        """The deal stages a deal may be moved to, as the CRM names them (exact, case-sensitive)."""
        ...

    def changed_deals(self, since: datetime, limit: int) -> list[Deal]:
        """Deals modified at or after `since`, oldest change first, at most `limit`."""
        ...

    def snapshot(self, deal_id: str) -> DealSnapshot | None:
        """The deal with its contacts, company and notes; None when there is no such deal."""
        ...

    def deals(self, ids: Iterable[str]) -> Mapping[str, Deal]:
        """The deals of `ids` that exist, by id."""
        ...

    def contacts(self, ids: Iterable[str]) -> Mapping[str, Contact]:
        """The contacts of `ids` that exist, by id."""
        ...

    def contacts_by_email(self, emails: Iterable[str]) -> Mapping[str, Contact]:
        """The contacts whose address is one of `emails`, by address."""
        ...

    def companies(self, ids: Iterable[str]) -> Mapping[str, Company]:
        """The companies of `ids` that exist, by id."""
        ...

    def update_deal(
        self, deal_id: str, changes: Mapping[str, Any], before: Mapping[str, Any], key: str
    ) -> WriteResult:
        """Set `changes` on the deal, but only where it still holds `before` (compare and set).

        A field that already holds its new value is left as is (a retry); one that holds neither
        raises `CrmConflict`, and nothing is written.
        """
        ...

    def log_note(self, deal_id: str, body: str, key: str) -> WriteResult:
        """Add a note to the deal, once per `key`."""
        ...

    def create_contact(self, name: str, email: str, company_id: str, key: str) -> WriteResult:
        """Create the contact, once: an existing contact with this address is not created again."""
        ...

    def close(self) -> None: ...


def _same(field: str, a: Any, b: Any) -> bool:
    if field == "contact_ids":
        return isinstance(a, list | tuple) and isinstance(b, list | tuple) and sorted(a) == sorted(b)
    return bool(a == b)


def pending_changes(deal: Deal, changes: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any]:
    """The changes a compare-and-set update still has to write, the same rule for every backend.

    A field that already holds its new value needs nothing (an earlier attempt wrote it, or the
    change was a no-op). A field whose reviewed `before` value is no longer there was changed by
    someone else since the review: writing would overwrite their change unseen.

    Raises:
        CrmConflict: some field holds neither its reviewed value nor its new one; nothing to write.
    """
    current = deal.fields()
    todo: dict[str, Any] = {}
    for field, new in changes.items():
        if field not in current or field == "id":
            raise CrmError(f"deal {deal.id} has no field {field!r} that can be written")
        now = current[field]
        if _same(field, now, new):
            continue
        if field in before and not _same(field, now, before[field]):
            raise CrmConflict(
                f"deal {deal.id}: {field} is now {now!r}, not {before[field]!r} as reviewed; someone "
                "changed it since the review, so nothing was written. Re-run CLOSER on this deal."
            )
        todo[field] = new
    return todo
