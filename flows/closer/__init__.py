"""CLOSER: Claude brings the deals that changed up to date in the CRM; a person approves; it commits once.

- `agent`: the system prompt (the shared boundary rules, worded for deal support), the request with
  one deal's snapshot as sources, and the reading of Claude's reply (its tool calls, or `report_blocker`).
- `actions`: CLOSER's action kinds, all generic: `crm.update_deal`, `crm.log_note`,
  `crm.create_contact`, `email.send`.
- `crm`: the CRM interface and its backends (SQLite, the default and the demo's; HubSpot).
- `sources`: a deal's snapshot as the documents the agent cites and the validators check against.
- `executors`: what an approved action runs: CRM writes, and the shared SMTP sink.
- `flow`: the Prefect flow, `deal_support_flow`, deployed as `closer-deals/closer-weekdays`.
- `demo`: `make demo AGENT=closer`.
"""

from __future__ import annotations

__all__ = ["AGENT", "REQUESTER"]

AGENT = "closer"
REQUESTER = f"agent:{AGENT}"  # who CLOSER's reviews are requested by; also a Prefect tag on its runs
