"""The commit ledger's records: write-once inputs on the review's flow run, and what they add up to.

Every host that runs a flow shares its Prefect server, and the server creates a run input at most
once per key (a second POST of the same key gets 409): that atomic create is the claim that lets
one process, on any host, run an action. Records of one action, under
`review-gate-<review>-commit-<index>-<digest of its idempotency key>`:

    -claim-<n>      attempt n started, by this `Holder` (the intent)
    -cleared-<n>    attempt n did not happen: its executor raised `ActionNotPerformed`
    -resolved-<n>   a person settled attempt n: it ran, or it did not, who says so and why
    -outcome        the executor's result: the action happened, and this is what it returned

Attempt n+1 may be claimed only once attempt n is cleared or resolved as not run. A claim with
neither an outcome nor a settlement is an action that may have happened: never run again until a
person resolves it (`review-gate commits resolve`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from pydantic import BaseModel, ValidationError

from prefect_review_gate.gates.errors import CommitInterrupted
from prefect_review_gate.gates.holder import Holder
from prefect_review_gate.gates.store import ApiRequester
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = [
    "ActionLog",
    "Claim",
    "Resolution",
    "action_prefix",
    "create_record",
    "read_action_logs",
    "review_prefix",
]

_RECORD = re.compile(
    r"(?P<action>.+-commit-\d+-[0-9a-f]{16})-(?P<what>claim|cleared|resolved|outcome)(?:-(?P<n>\d+))?"
)
_PAGE = 500


def review_prefix(review_id: str) -> str:
    """The prefix of every commit record of a review (run input keys: lowercase, digits, dashes)."""
    return f"review-gate-{re.sub(r'[^a-z0-9-]', '-', review_id.lower())}-commit-"


def action_prefix(review_id: str, index: int, idempotency_key: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    return f"{review_prefix(review_id)}{index}-{digest}"


class Claim(BaseModel):
    """What a `-claim-<n>` record says: the action, and who started it when."""

    index: int
    kind: str
    idempotency_key: str
    holder: Holder
    at: datetime


class Resolution(BaseModel):
    """What a `-resolved-<n>` record says: a person's word on whether the attempt happened."""

    ran: bool
    by: str
    reason: str = ""
    at: datetime


@dataclass
class ActionLog:
    """Every record of one action, parsed."""

    prefix: str
    claims: dict[int, Claim] = field(default_factory=dict)
    cleared: dict[int, str] = field(default_factory=dict)
    resolved: dict[int, Resolution] = field(default_factory=dict)
    outcome: dict[str, Any] | None = None

    @property
    def last_attempt(self) -> int | None:
        return max(self.claims) if self.claims else None

    @property
    def resolved_ran(self) -> Resolution | None:
        """The resolution that says the action happened, if a person gave one."""
        return next((r for r in self.resolved.values() if r.ran), None)

    @property
    def open_claim(self) -> tuple[int, Claim] | None:
        """The last attempt when nobody has said how it ended: it is running, or may have happened."""
        last = self.last_attempt
        if last is None or self.outcome is not None or self.resolved_ran is not None:
            return None
        if last in self.cleared or last in self.resolved:
            return None
        return last, self.claims[last]

    @property
    def next_attempt(self) -> int:
        last = self.last_attempt
        return 0 if last is None else last + 1

    def describe(self) -> str:
        """One line for a person: where this action stands."""
        if self.outcome is not None:
            return "committed"
        ran = self.resolved_ran
        if ran is not None:
            return f"resolved as run by {ran.by}" + (f" ({ran.reason})" if ran.reason else "")
        held = self.open_claim
        if held is not None:
            attempt, claim = held
            return (
                f"interrupted or running: attempt {attempt} started {claim.at:%Y-%m-%d %H:%M:%S %Z} by "
                f"{claim.holder.describe()}, no outcome recorded"
            )
        last = self.last_attempt
        if last is not None and last in self.resolved:
            r = self.resolved[last]
            return f"resolved as not run by {r.by}" + (f" ({r.reason})" if r.reason else "") + "; may run"
        if last is not None:
            return f"did not happen (attempt {last}: {self.cleared.get(last, '')}); may run"
        return "not started"


def _parse(key: str, value: str, log: ActionLog, what: str, n: int | None) -> None:
    try:
        data = json.loads(value)
        if what == "outcome":
            if not isinstance(data, dict):
                raise ValueError("not an object")
            log.outcome = data
        elif what == "claim" and n is not None:
            log.claims[n] = Claim.model_validate(data)
        elif what == "cleared" and n is not None:
            log.cleared[n] = str(data.get("reason", "")) if isinstance(data, dict) else ""
        elif what == "resolved" and n is not None:
            log.resolved[n] = Resolution.model_validate(data)
        else:
            raise ValueError("no attempt number")
    except (ValueError, ValidationError, TypeError) as exc:
        raise CommitInterrupted(
            f"the commit ledger's record {key} is unreadable ({type(exc).__name__}): whether the action "
            "ran is unknown, so it was not run. Check it, then resolve it by hand."
        ) from None


async def read_action_logs(api: ApiRequester, flow_run_id: UUID, prefix: str) -> dict[str, ActionLog]:
    """Every action's records under `prefix` (a review's or one action's), by action prefix.

    Raises:
        CommitInterrupted: a record is unreadable; never read as absent.
        httpx.HTTPError and Prefect's HTTP errors: the server could not be asked; nothing is known.
    """
    logs: dict[str, ActionLog] = {}
    seen: list[str] = []
    while True:
        body = {"prefix": prefix, "limit": _PAGE, "exclude_keys": seen}
        response = await api.request("POST", f"/flow_runs/{flow_run_id}/input/filter", json=body)
        response.raise_for_status()
        batch = response.json() or []
        for item in batch:
            key = str(item.get("key", ""))
            seen.append(key)
            match = _RECORD.fullmatch(key)
            if match is None:
                continue
            log = logs.setdefault(match["action"], ActionLog(match["action"]))
            n = int(match["n"]) if match["n"] is not None else None
            _parse(key, str(item.get("value") or ""), log, match["what"], n)
        if len(batch) < _PAGE:
            return logs


async def create_record(
    api: ApiRequester, flow_run_id: UUID, key: str, value: BaseModel | dict[str, Any]
) -> bool:
    """Create a write-once record; False when it exists already (the server's 409).

    Raises:
        ReviewGateError: the flow run does not exist (404).
        httpx.HTTPError and Prefect's HTTP errors: the server could not be asked.
    """
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    body = {"key": key, "value": json.dumps(data)}
    try:
        # Prefect's client raises for an error status; plain httpx returns it: both end up here.
        (await api.request("POST", f"/flow_runs/{flow_run_id}/input", json=body)).raise_for_status()
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 409:
            return False
        if exc.response.status_code == 404:
            raise ReviewGateError(
                f"flow run {flow_run_id} does not exist: the commit ledger has nowhere to record"
            ) from None
        raise
    return True
