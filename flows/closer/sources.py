"""A deal's snapshot as source documents: what the agent cites and the validators check against.

Each deal becomes a document `deal-<id>` (its fields, company and contacts) and each note a
document `note-<id>`. The agent cites them with `[deal-1001]`, `[note-5003]` in note and e-mail
bodies, so `validate-actions` can check every number, quote and URL against what the CRM holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect_review_gate.flows.closer.crm.model import DealSnapshot

__all__ = ["deal_sources", "render_deal"]


def _amount(value: float | None) -> str:
    if value is None:
        return "not set"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def render_deal(snapshot: DealSnapshot, stages: Sequence[str]) -> str:
    """The deal's own document: its fields as the CRM holds them, for the agent and the validators."""
    deal = snapshot.deal
    lines = [
        f"Deal {deal.id}: {deal.name}",
        f"Stage: {deal.stage} (pipeline stages, in order: {', '.join(stages)})",
        f"Amount: {_amount(deal.amount)}",
        f"Company: {snapshot.company.name} (company id {snapshot.company.id})"
        if snapshot.company
        else "Company: none",
        "Contacts:",
        *(f"- {c.name} <{c.email}> (contact id {c.id})" for c in snapshot.contacts),
        f"Last changed: {deal.updated_at.strftime('%Y-%m-%d %H:%M')} UTC",
    ]
    if not snapshot.contacts:
        lines.insert(lines.index("Contacts:") + 1, "- none")
    return "\n".join(lines) + "\n"


def deal_sources(snapshots: Sequence[DealSnapshot], stages: Sequence[str]) -> dict[str, str]:
    """Source texts by id for these deals: `deal-<id>` and `note-<id>` (ids as markers accept them)."""
    texts: dict[str, str] = {}
    for snapshot in snapshots:
        texts[f"deal-{snapshot.deal.id.lower()}"] = render_deal(snapshot, stages)
        for note in snapshot.notes:
            written = note.created_at.strftime("%Y-%m-%d")
            texts[f"note-{note.id.lower()}"] = (
                f"Note {note.id} on deal {note.deal_id}, {written}:\n{note.body}\n"
            )
    return texts
