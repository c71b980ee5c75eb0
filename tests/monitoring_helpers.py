"""Reviews of several agents in every outcome, made by real gated runs on the test's Prefect API.

`make_reviews` runs one gated flow per outcome (requesters `agent:alpha` and `agent:beta`) and
decides each the way a person or the gate would: approved, rejected, blocked by the policy,
expired, approved over blocking findings with a reason, edited and approved, and a refused
decision (a name the policy does not list) before a rejection. What it returns is what the stats
must say.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from prefect import flow

from prefect_review_gate.gates import Action, ReviewPolicy, commit, outcome_state, request_review
from prefect_review_gate.gates.errors import ReviewClosed
from prefect_review_gate.gates.review_api import ApiTarget, resume_run
from prefect_review_gate.gates.reviews import PendingReview, decide
from prefect_review_gate.gates.votes import Outcome
from prefect_review_gate.validators import Finding, Severity
from tests.gate_helpers import EXECUTORS, WriteLine, review_of_run

__all__ = ["ALPHA", "BETA", "BLOCKING", "Made", "make_reviews", "monitored_write"]

ALPHA, BETA = "agent:alpha", "agent:beta"
BLOCKING = [
    Finding(code="unknown_recipient", severity=Severity.BLOCK, message="nobody has this address"),
    Finding(code="uncited_number", severity=Severity.WARN, message="a number without a citation"),
]


@flow(name="monitored-write")
async def monitored_write(
    path: str, line: str, requester: str, policy: dict[str, Any], with_findings: bool = False
) -> Any:
    actions: list[Action] = [WriteLine(path=path, line=line)]
    verdict = await request_review(
        actions,
        policy=ReviewPolicy.model_validate(policy),
        findings=BLOCKING if with_findings else [],
        requester=requester,
    )
    try:
        report = await commit(verdict, executors=EXECUTORS)
    except ReviewClosed as closed:
        return outcome_state(closed)
    return report.model_dump(mode="json")


@dataclass
class Made:
    """What was created, outcome by outcome: the review ids."""

    ids: dict[str, str]
    runs: int


Step = Literal["approve", "reject", "block", "expire", "override", "edit", "refuse"]
# (name, requester, with blocking findings, policy overrides, what happens)
PLAN: list[tuple[str, str, bool, dict[str, Any], Step]] = [
    ("alpha-approved", ALPHA, False, {}, "approve"),
    ("alpha-rejected", ALPHA, False, {}, "reject"),
    ("alpha-blocked", ALPHA, True, {"on_blocking": "reject"}, "block"),
    ("alpha-override", ALPHA, True, {}, "override"),
    ("beta-expired", BETA, False, {"timeout": 4}, "expire"),
    ("beta-edited", BETA, False, {}, "edit"),
    ("beta-refused", BETA, True, {}, "refuse"),
]


async def make_reviews(tmp_path: Path, api: str, tag: str = "") -> Made:
    """Run every step of `PLAN` concurrently; the ids by step name.

    `tag` ends each requester's name and starts each line, so that tests sharing one server count
    only their own reviews (`agent:alpha<tag>`).
    """
    target = ApiTarget(api)
    out = tmp_path / "side-effects.txt"

    async def one(name: str, requester: str, findings: bool, extra: dict[str, Any], step: Step) -> str:
        line, requester = f"{tag}{name}", f"{requester}{tag}"
        policy = {"reviewers": ["alice", "bob"], "timeout": 600, **extra}
        run = asyncio.ensure_future(
            monitored_write(str(out), line, requester, policy, findings, return_state=True)
        )
        if step == "block":
            await asyncio.wait_for(run, 60)
            return await _closed_review_id(line)
        pending = await review_of_run(run, lambda p: _writes(p, line), line)
        review_id = pending.record.request.id
        if step == "approve":
            await decide(review_id, Outcome.APPROVED, "alice", comment="fine")
        elif step == "reject":
            await decide(review_id, Outcome.REJECTED, "bob", comment="wrong customer")
        elif step == "override":
            await decide(review_id, Outcome.APPROVED, "bob", override_reason="the address is new, checked")
        elif step == "edit":
            edited = WriteLine(path=str(out), line=line + " (edited)").model_dump(mode="json")
            await _resume(target, pending, "alice", edited_actions=[edited])
        elif step == "refuse":
            await _resume(target, pending, "mallory", outcome="rejected")
            again = await review_of_run(run, lambda p: _writes(p, line) and len(p.record.refused) == 1, line)
            await decide(again.record.request.id, Outcome.REJECTED, "alice", comment="invented recipient")
        await asyncio.wait_for(run, 60)
        return review_id

    ids = await asyncio.gather(*(one(*entry) for entry in PLAN))
    return Made(dict(zip([entry[0] for entry in PLAN], ids, strict=True)), len(PLAN))


def _writes(pending: PendingReview, line: str) -> bool:
    return any(a.get("line") == line for a in pending.record.request.actions)


async def _resume(
    target: ApiTarget,
    pending: PendingReview,
    reviewer: str,
    outcome: str = "approved",
    edited_actions: list[dict[str, Any]] | None = None,
) -> None:
    """A decision sent straight to the paused run, as the Prefect UI's form would send it."""
    request = pending.record.request
    run_input: dict[str, Any] = {
        "outcome": outcome,
        "reviewer": reviewer,
        "content_hash": request.content_hash,
    }
    if edited_actions is not None:
        run_input["edited_actions"] = json.loads(json.dumps(edited_actions))
    await resume_run(target, request.flow_run_id, run_input)


async def _closed_review_id(line: str) -> str:
    """The review of a run the policy rejected without asking: it never waited, so read the store."""
    from prefect_review_gate.gates.store_client import open_store

    async with open_store() as store:
        async for page in store.record_versions():
            for version in page:
                record = version.record
                if record is not None and any(a.get("line") == line for a in record.request.actions):
                    return record.request.id
    raise AssertionError(f"no review for {line!r}")
