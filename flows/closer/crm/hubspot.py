"""HubSpot as CLOSER's CRM (`Crm`), through its CRM v3 objects API and v4 associations.

Endpoints used, and nothing else (tests/hubspot_fake.py fakes exactly these):

    GET    /crm/v3/pipelines/deals/{pipeline}                the stages deals move through
    POST   /crm/v3/objects/deals/search                      deals changed since a time (paged: `after`)
    POST   /crm/v3/objects/{type}/batch/read                 deals, contacts (also by email), companies, notes
    POST   /crm/v4/associations/{from}/{to}/batch/read       a record's contacts, company, notes (paged)
    PATCH  /crm/v3/objects/deals/{id}                        a deal's name, stage, amount
    PUT    /crm/v4/objects/deals/{id}/associations/default/contacts/{contactId}   add a deal's contact
    DELETE /crm/v4/objects/deals/{id}/associations/contacts/{contactId}           remove one
    POST   /crm/v3/objects/notes                             a note, created with its deal association
    POST   /crm/v3/objects/contacts                          a contact, created with its company association

Idempotency: a note carries the commit's key in the note property `review_gate_key` (a single-line
text property the portal needs once: Settings > Properties > Note properties), and before creating
one the client reads the deal's notes for that key; reading a deal's associations is immediate,
unlike search, which lags writes by seconds. A contact is looked up by e-mail first (HubSpot keeps
one contact per address). A deal update is the same compare-and-set as everywhere (`pending_changes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from prefect_review_gate.flows.closer.crm.hubspot_http import HubSpotHttp
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

__all__ = ["KEY_PROPERTY", "HubSpotCrm"]

KEY_PROPERTY = "review_gate_key"
NOTE_TO_DEAL = 214  # HubSpot-defined association type ids
CONTACT_TO_COMPANY = 279
_DEAL_PROPERTIES = ["dealname", "dealstage", "amount", "pipeline", "hs_lastmodifieddate"]
_CONTACT_PROPERTIES = ["firstname", "lastname", "email"]
_BATCH = 100  # HubSpot's batch and search page limit


def _time(value: Any) -> datetime:
    """HubSpot's timestamps: ISO 8601 strings, or epoch milliseconds in some properties."""
    if isinstance(value, str) and value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.fromtimestamp(0, UTC)


def _amount(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class HubSpotCrm:
    """One HubSpot portal's deals, contacts, companies and notes (`Crm`)."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        pipeline: str = "default",
        retries: int = 4,
        max_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = HubSpotHttp(
            base_url, token, retries=retries, max_wait=max_wait, transport=transport, **extra
        )
        self.pipeline = pipeline
        self._clock = clock or (lambda: datetime.now(UTC))

    # --- reads ------------------------------------------------------------------------------------

    def stages(self) -> list[str]:
        data = self.http.request("GET", f"/crm/v3/pipelines/deals/{self.pipeline}", missing_ok=True)
        if data is None:
            raise CrmError(
                f"HubSpot has no deal pipeline {self.pipeline!r}: set REVIEW_GATE_HUBSPOT_PIPELINE"
            )
        stages = sorted(data.get("stages", []), key=lambda s: s.get("displayOrder", 0))
        return [str(s["id"]) for s in stages if isinstance(s, dict) and "id" in s]

    def changed_deals(self, since: datetime, limit: int) -> list[Deal]:
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "GTE",
                            "value": str(int(since.timestamp() * 1000)),
                        }
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": _DEAL_PROPERTIES,
            "limit": min(limit, _BATCH),
        }
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            page = self.http.request("POST", "/crm/v3/objects/deals/search", json=body)
            found += page.get("results", [])
            after = (page.get("paging") or {}).get("next", {}).get("after")
            if not after:
                break
            body["after"] = after
        return self._deals(found[:limit])

    def snapshot(self, deal_id: str) -> DealSnapshot | None:
        deal = self.deals([deal_id]).get(deal_id)
        if deal is None:
            return None
        contacts = self.contacts(deal.contact_ids)
        company = self.companies([deal.company_id]).get(deal.company_id) if deal.company_id else None
        note_ids = self._associated("deals", "notes", [deal_id]).get(deal_id, [])
        notes = [
            _note(deal_id, raw) for raw in self._read("notes", note_ids, ["hs_note_body", "hs_timestamp"])
        ]
        return DealSnapshot(
            deal=deal,
            contacts=tuple(contacts[c] for c in deal.contact_ids if c in contacts),
            company=company,
            notes=tuple(sorted(notes, key=lambda n: (n.created_at, n.id))),
        )

    def deals(self, ids: Iterable[str]) -> dict[str, Deal]:
        return {deal.id: deal for deal in self._deals(self._read("deals", ids, _DEAL_PROPERTIES))}

    def contacts(self, ids: Iterable[str]) -> dict[str, Contact]:
        return {c.id: c for c in self._contacts(self._read("contacts", ids, _CONTACT_PROPERTIES))}

    def contacts_by_email(self, emails: Iterable[str]) -> dict[str, Contact]:
        raw = self._read("contacts", emails, _CONTACT_PROPERTIES, id_property="email")
        return {c.email: c for c in self._contacts(raw)}

    def companies(self, ids: Iterable[str]) -> dict[str, Company]:
        return {
            str(raw["id"]): Company(
                id=str(raw["id"]),
                name=str(raw.get("properties", {}).get("name") or ""),
                domain=str(raw.get("properties", {}).get("domain") or ""),
            )
            for raw in self._read("companies", ids, ["name", "domain"])
        }

    def _read(
        self, kind: str, ids: Iterable[str], properties: list[str], id_property: str | None = None
    ) -> list[dict[str, Any]]:
        """Batch read; ids HubSpot does not have are simply absent (its 207 lists them as errors)."""
        wanted = sorted({i for i in ids if i})
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), _BATCH):
            body: dict[str, Any] = {
                "properties": properties,
                "inputs": [{"id": i} for i in wanted[start : start + _BATCH]],
            }
            if id_property:
                body["idProperty"] = id_property
            page = self.http.request("POST", f"/crm/v3/objects/{kind}/batch/read", json=body)
            found += [r for r in page.get("results", []) if isinstance(r, dict)]
        return found

    def _associated(self, source: str, target: str, ids: Iterable[str]) -> dict[str, list[str]]:
        """Each record's associated ids of `target`, following every page."""
        linked: dict[str, list[str]] = {}
        pending = [{"id": i} for i in sorted(set(ids)) if i]
        while pending:
            batch, pending = pending[:_BATCH], pending[_BATCH:]
            page = self.http.request(
                "POST", f"/crm/v4/associations/{source}/{target}/batch/read", json={"inputs": batch}
            )
            for result in page.get("results", []):
                origin = str(result.get("from", {}).get("id"))
                linked.setdefault(origin, []).extend(str(to["toObjectId"]) for to in result.get("to", []))
                after = (result.get("paging") or {}).get("next", {}).get("after")
                if after:
                    pending.append({"id": origin, "after": after})
        return linked

    def _deals(self, raw: list[dict[str, Any]]) -> list[Deal]:
        ids = [str(r["id"]) for r in raw]
        contacts = self._associated("deals", "contacts", ids)
        companies = self._associated("deals", "companies", ids)
        deals = []
        for record in raw:
            deal_id, props = str(record["id"]), record.get("properties", {})
            deals.append(
                Deal(
                    id=deal_id,
                    name=str(props.get("dealname") or ""),
                    stage=str(props.get("dealstage") or ""),
                    amount=_amount(props.get("amount")),
                    company_id=_first(companies.get(deal_id)),
                    contact_ids=tuple(sorted(set(contacts.get(deal_id, [])))),
                    updated_at=_time(props.get("hs_lastmodifieddate") or record.get("updatedAt")),
                )
            )
        return deals

    def _contacts(self, raw: list[dict[str, Any]]) -> list[Contact]:
        companies = self._associated("contacts", "companies", [str(r["id"]) for r in raw])
        contacts = []
        for record in raw:
            props = record.get("properties", {})
            name = " ".join(str(props.get(p) or "").strip() for p in ("firstname", "lastname")).strip()
            contacts.append(
                Contact(
                    id=str(record["id"]),
                    name=name,
                    email=str(props.get("email") or ""),
                    company_id=_first(companies.get(str(record["id"]))),
                )
            )
        return contacts

    # --- writes -----------------------------------------------------------------------------------

    def update_deal(
        self, deal_id: str, changes: Mapping[str, Any], before: Mapping[str, Any], key: str
    ) -> WriteResult:
        deal = self.deals([deal_id]).get(deal_id)
        if deal is None:
            raise CrmMissing(f"no deal {deal_id} in HubSpot")
        todo = pending_changes(deal, changes, before)
        if "stage" in todo and todo["stage"] not in self.stages():
            raise CrmMissing(f"no stage {todo['stage']!r} in HubSpot's pipeline {self.pipeline!r}")
        if "contact_ids" in todo:
            wanted = set(todo["contact_ids"])
            missing = sorted(wanted - set(self.contacts(wanted)))
            if missing:
                raise CrmMissing(f"no contact {', '.join(missing)} in HubSpot")
        properties = {
            name: str(todo[field]) if field == "amount" else todo[field]
            for field, name in (("name", "dealname"), ("stage", "dealstage"), ("amount", "amount"))
            if field in todo
        }
        if properties:
            self.http.request("PATCH", f"/crm/v3/objects/deals/{deal_id}", json={"properties": properties})
        if "contact_ids" in todo:
            wanted, held = set(todo["contact_ids"]), set(deal.contact_ids)
            for contact in sorted(wanted - held):
                path = f"/crm/v4/objects/deals/{deal_id}/associations/default/contacts/{contact}"
                self.http.request("PUT", path)
            for contact in sorted(held - wanted):
                self.http.request(
                    "DELETE", f"/crm/v4/objects/deals/{deal_id}/associations/contacts/{contact}"
                )
        detail = "; ".join(f"{field}: {deal.fields()[field]!r} -> {new!r}" for field, new in todo.items())
        return WriteResult(
            record=f"deal {deal_id}",
            written=bool(todo),
            detail=detail or "the deal already holds these values",
        )

    def log_note(self, deal_id: str, body: str, key: str) -> WriteResult:
        if deal_id not in self.deals([deal_id]):
            raise CrmMissing(f"no deal {deal_id} in HubSpot")
        note_ids = self._associated("deals", "notes", [deal_id]).get(deal_id, [])
        for note in self._read("notes", note_ids, [KEY_PROPERTY]):
            if note.get("properties", {}).get(KEY_PROPERTY) == key:
                return WriteResult(
                    record=f"note {note['id']}",
                    written=False,
                    detail="logged by an earlier attempt (same key)",
                )
        created = self.http.request(
            "POST",
            "/crm/v3/objects/notes",
            json={
                "properties": {
                    "hs_note_body": body,
                    "hs_timestamp": self._clock().astimezone(UTC).isoformat().replace("+00:00", "Z"),
                    KEY_PROPERTY: key,
                },
                "associations": [
                    {
                        "to": {"id": deal_id},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_DEAL}
                        ],
                    }
                ],
            },
        )
        return WriteResult(record=f"note {created['id']}", written=True, detail=f"on deal {deal_id}")

    def create_contact(self, name: str, email: str, company_id: str, key: str) -> WriteResult:
        existing = self.contacts_by_email([email]).get(email)
        if existing is not None:
            return WriteResult(
                record=f"contact {existing.id}", written=False, detail=f"{email} is already a contact"
            )
        if company_id not in self.companies([company_id]):
            raise CrmMissing(f"no company {company_id} in HubSpot")
        first, _, last = name.strip().partition(" ")
        created = self.http.request(
            "POST",
            "/crm/v3/objects/contacts",
            json={
                "properties": {"email": email, "firstname": first, "lastname": last},
                "associations": [
                    {
                        "to": {"id": company_id},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": CONTACT_TO_COMPANY,
                            }
                        ],
                    }
                ],
            },
        )
        return WriteResult(record=f"contact {created['id']}", written=True, detail=f"{name} <{email}>")

    def close(self) -> None:
        self.http.close()


def _first(ids: list[str] | None) -> str | None:
    return ids[0] if ids else None


def _note(deal_id: str, raw: Mapping[str, Any]) -> Note:
    props = raw.get("properties", {})
    return Note(
        id=str(raw["id"]),
        deal_id=deal_id,
        body=str(props.get("hs_note_body") or ""),
        created_at=_time(props.get("hs_timestamp") or raw.get("createdAt")),
    )
