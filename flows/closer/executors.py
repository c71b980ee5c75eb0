"""What CLOSER's approved actions run: writes to the CRM, and the shared SMTP sink for e-mail.

Each CRM write is idempotent under the commit's idempotency key (see `crm`), so the gate's ledger
and the CRM together make a retried commit write nothing twice. A write that names a record the
CRM does not have (a deal id the agent invented, approved with an override) cannot happen on any
attempt: it is recorded as the action's outcome, "nothing written" with the reason, and the other
approved actions still commit. Everything else that stops a write (CRM down, token refused, a
value changed since the review) raises `ActionNotPerformed`: the write either did not happen or,
idempotent under the key, cannot happen twice, so the commit ledger lets a retry try again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from prefect.exceptions import MissingContextError
from prefect.logging import get_logger, get_run_logger

from prefect_review_gate.flows.closer.crm.model import Crm, CrmError, CrmMissing, WriteResult
from prefect_review_gate.flows.closer.crm.settings import CrmSettings, open_crm
from prefect_review_gate.flows.common.smtp import send_email_smtp
from prefect_review_gate.gates.actions import CreateContact, LogNote, UpdateDeal
from prefect_review_gate.gates.errors import ActionNotPerformed
from prefect_review_gate.gates.executors import Executors

__all__ = ["agent_executors"]


async def _write(
    settings: CrmSettings | None, what: str, write: Callable[[Crm], WriteResult]
) -> dict[str, str]:
    try:
        crm = await open_crm(settings)
        try:
            result = await asyncio.to_thread(write, crm)  # sqlite3 and httpx calls block
        finally:
            crm.close()
    except CrmMissing as exc:
        _logger().warning("Approved, but cannot be written: %s (%s)", what, exc)
        return WriteResult(record=what, written=False, detail=f"{exc}; nothing to write to").report()
    except CrmError as exc:
        raise ActionNotPerformed(f"{what}: {exc}") from None
    return result.report()


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()  # on the run, where reviewers look
    except MissingContextError:
        return get_logger(__name__)


def agent_executors(settings: CrmSettings | None = None) -> Executors:
    """CLOSER's executors, for `commit`: a new registry each call, so no caller changes another's.

    Args:
        settings: the CRM to write to; None reads the environment when an action runs.
    """

    async def update_deal(action: UpdateDeal, key: str) -> Any:
        return await _write(
            settings,
            f"deal {action.deal_id}",
            lambda crm: crm.update_deal(action.deal_id, action.changes, action.before, key),
        )

    async def log_note(action: LogNote, key: str) -> Any:
        return await _write(
            settings,
            f"note on deal {action.deal_id}",
            lambda crm: crm.log_note(action.deal_id, action.body, key),
        )

    async def create_contact(action: CreateContact, key: str) -> Any:
        return await _write(
            settings,
            f"contact {action.email}",
            lambda crm: crm.create_contact(action.name, action.email, action.company_id, key),
        )

    return Executors(
        {
            "crm.update_deal": update_deal,
            "crm.log_note": log_note,
            "crm.create_contact": create_contact,
            "email.send": send_email_smtp,
        }
    )
