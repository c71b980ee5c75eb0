"""FORGE: Claude writes a client proposal from source documents; a person approves; it is published.

- `agent`: the system prompt (the shared boundary rules, worded for proposals), the request with
  the sources as cited documents, and the reading of Claude's reply (`submit_proposal` or
  `report_blocker`).
- `actions`: FORGE's action kinds (`proposal.publish_file`, and the generic `email.send`).
- `executors`: what an approved action runs: the folder sink, and the shared SMTP sink.
- `flow`: the Prefect flow, `proposal_flow`, deployed as `forge-proposal/forge-weekly`.
"""

from __future__ import annotations

__all__ = ["AGENT", "REQUESTER"]

AGENT = "forge"
REQUESTER = f"agent:{AGENT}"  # who FORGE's reviews are requested by; also a Prefect tag on its runs
