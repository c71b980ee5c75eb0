"""`review-gate commits show|resolve`: where a review's approved actions stand, and a person's word on
an interrupted one.

An action whose process died mid-way (or whose executor failed without saying it did not happen)
is never run again by the gate: it may have happened. A person checks the real system, then says
so here. The word is a write-once record on the review's flow run (`commit_log`), with who said
it and why, and a `review_gate.commit_resolved` event: `--ran` makes every later commit of the
review replay it as done; `--did-not-run` lets the next commit run it.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from prefect_review_gate.gates import reviews
from prefect_review_gate.gates.commit_log import (
    ActionLog,
    Resolution,
    create_record,
    read_action_logs,
    review_prefix,
)
from prefect_review_gate.gates.events import emit_review_event
from prefect_review_gate.gates.identity import normalize_identity
from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.review_commands import run_against_api
from prefect_review_gate.gates.store_client import open_api
from prefect_review_gate.validators.errors import InputError, ReviewGateError

__all__ = ["resolve", "show"]


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


def _print_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")


async def _logs(review_id: str) -> tuple[ReviewRecord, list[ActionLog]]:
    record = await reviews.get_review(review_id)
    async with open_api() as api:
        logs = await read_action_logs(api, record.request.flow_run_id, review_prefix(review_id))
    return record, sorted(logs.values(), key=_index)


def _index(log: ActionLog) -> int:
    return int(log.prefix.rsplit("-", 2)[-2])


def _kind(log: ActionLog) -> str:
    claim = next(iter(log.claims.values()), None)
    return claim.kind if claim is not None else "?"


def show(review_id: str, as_json: bool) -> int:
    """Print where each action of the review stands in the commit ledger."""
    _, logs = run_against_api(lambda: _logs(review_id))
    if as_json:
        _print_json(
            {
                "review_id": review_id,
                "actions": [
                    {
                        "index": _index(log),
                        "kind": _kind(log),
                        "state": log.describe(),
                        "interrupted": bool(log.open_claim),
                    }
                    for log in logs
                ],
            }
        )
        return 0
    if not logs:
        _print(f"No action of review {review_id} has started committing.")
    for log in logs:
        _print(f"action {_index(log)} ({_kind(log)}): {log.describe()}")
    return 0


def resolve(review_id: str, resolver: str, ran: bool, reason: str, index: int | None) -> int:
    """Record a person's word on the review's interrupted actions (or only action `index`).

    Raises:
        InputError: an empty name, or no such review.
        ReviewGateError: nothing interrupted to resolve, the holder is still running on this
            machine, or someone resolved it first.
    """
    resolver = normalize_identity(resolver)
    if not resolver:
        raise InputError("--as needs the name of the person who checked the action")

    async def work() -> list[str]:
        record, logs = await _logs(review_id)
        interrupted = [
            (log, held)
            for log in logs
            if (held := log.open_claim) is not None and (index is None or _index(log) == index)
        ]
        if not interrupted:
            raise ReviewGateError(
                f"review {review_id} has no interrupted action to resolve"
                + (f" at index {index}" if index is not None else "")
                + f"; `review-gate commits show {review_id}` says where each stands"
            )
        for log, (_, claim) in interrupted:  # all checked before any is resolved
            if claim.holder.host_is_here() and not claim.holder.is_known_dead():
                raise ReviewGateError(
                    f"action {_index(log)} of review {review_id} is still being committed by "
                    f"{claim.holder.describe()}: wait for it, or stop that process first"
                )
        done = []
        async with open_api() as api:
            for log, (attempt, _) in interrupted:
                word = Resolution(ran=ran, by=resolver, reason=reason, at=datetime.now(UTC))
                if not await create_record(
                    api, record.request.flow_run_id, f"{log.prefix}-resolved-{attempt}", word
                ):
                    raise ReviewGateError(
                        f"action {_index(log)} of review {review_id} was resolved by someone else first"
                    )
                payload: dict[str, Any] = {
                    "index": _index(log),
                    "kind": _kind(log),
                    "attempt": attempt,
                    "ran": ran,
                    "by": resolver,
                    "reason": reason,
                }
                emit_review_event("commit_resolved", record, payload, f"{_index(log)}-{attempt}")
                done.append(f"action {_index(log)} ({_kind(log)})")
        return done

    done = run_against_api(work)
    then = "a retry replays it as done" if ran else "the next commit of the review may run it"
    said = "ran" if ran else "did not run"
    for what in done:
        _print(
            f"Resolved {what} of review {review_id}: {said}, says {resolver}"
            + (f" ({reason})" if reason else "")
            + f"; {then}."
        )
    return 0
