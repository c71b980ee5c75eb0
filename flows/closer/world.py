"""What the validators check CLOSER's proposal against: the CRM records it names, and the deals' documents.

The whole CRM is never loaded (a HubSpot portal may hold a million contacts): the snapshot holds
the deals worked on with their contacts and companies, plus every record the proposal refers to,
looked up by id or address. A record the lookup does not find is absent, which is exactly what
`validate-actions` needs to flag it (`unknown_record`, `unknown_recipient`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect_review_gate.flows.closer.crm.model import Crm, DealSnapshot
from prefect_review_gate.validators.sources import SourceLibrary
from prefect_review_gate.validators.world import Crm as CrmRecords, World

__all__ = ["crm_world"]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def crm_world(
    crm: Crm,
    snapshots: Sequence[DealSnapshot],
    actions: Sequence[Mapping[str, Any]],
    sources: Mapping[str, str],
) -> World:
    """The validators' world for `actions` (in their JSON form), read from `crm` now."""
    deal_ids = {s.deal.id for s in snapshots}
    contact_ids = {c for s in snapshots for c in s.deal.contact_ids}
    company_ids = {s.deal.company_id for s in snapshots if s.deal.company_id}
    emails: set[str] = set()
    for action in actions:
        deal_ids.update(_strings(action.get("deal_id")))
        company_ids.update(_strings(action.get("company_id")))
        changes = action.get("changes")
        if isinstance(changes, dict):
            contact_ids.update(_strings(changes.get("contact_ids")))
        emails.update(_strings(action.get("to")) + _strings(action.get("cc")))
    deals = crm.deals(deal_ids)
    contacts = dict(crm.contacts(contact_ids | {c for d in deals.values() for c in d.contact_ids}))
    contacts.update({c.id: c for c in crm.contacts_by_email(emails).values()})
    companies = crm.companies(company_ids | {c.company_id for c in contacts.values() if c.company_id})
    data = {
        "deals": [deal.fields() for deal in deals.values()],
        "contacts": [c.model_dump() for c in contacts.values()],
        "companies": [c.model_dump() for c in companies.values()],
        "stages": crm.stages(),
    }
    return World(
        crm=CrmRecords.from_data(data, "the CRM"), workspace=None, sources=SourceLibrary.from_texts(sources)
    )
