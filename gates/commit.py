"""`commit`: run approved actions exactly once, and nothing at all for any other verdict.

Every action gets an idempotency key (review id, index, content hash); the ledger (`ledger`)
claims it on the Prefect server, as a write-once input of the review's flow run, before it runs,
and records its outcome there: retries, re-runs after a suspend and racing processes on any host
that shares the server get the recorded outcome, and an action whose process died mid-way, or
whose executor failed without saying it did not happen (`ActionNotPerformed`), is not run again
(`CommitInterrupted`) until a person resolves it (`review-gate commits resolve`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.states import Cancelled
from pydantic import BaseModel, SerializeAsAny

from prefect_review_gate.gates.actions import Action, content_hash
from prefect_review_gate.gates.commit_index import EarlierAction
from prefect_review_gate.gates.decision import Outcome, ReviewVerdict
from prefect_review_gate.gates.errors import ContentMismatch, ReviewClosed, ReviewExpired, ReviewRejected
from prefect_review_gate.gates.executors import Executor, executors_for
from prefect_review_gate.gates.fresh_reviews import opened_here
from prefect_review_gate.gates.ledger import ActionOutcome, CommitLedger
from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["CommitReport", "commit", "idempotency_key", "outcome_state"]

_EVENT_NAMESPACE = uuid.UUID("6d0f3d1e-2b6a-4c59-a1c3-7f9e0b8a5d21")


class CommitReport(BaseModel):
    review_id: str
    content_hash: str
    actions: list[SerializeAsAny[Action]]
    outcomes: list[ActionOutcome]


def idempotency_key(review_id: str, index: int, digest: str) -> str:
    return f"{review_id}:{index}:{digest}"


def outcome_state(closed: ReviewClosed) -> State[Any]:
    """The final flow-run state for a review that ended without approval: `Rejected` or `Expired`.

    A Cancelled state, not Failed: the run did what it should (it stopped), nothing crashed, and
    flow retries must not ask again.
    """
    return Cancelled(name=closed.state_name, message=str(closed))


async def commit(
    verdict: ReviewVerdict,
    actions: Sequence[Action] | None = None,
    *,
    executors: Mapping[str, Executor],
) -> CommitReport:
    """Run the verdict's approved actions once each, or raise for any other verdict.

    Args:
        verdict: what `request_review` returned.
        actions: optionally, the actions the caller means to commit; they must be exactly the
            content the verdict was made on (after any reviewer's edit, the edited content).
        executors: this flow's executors by action kind (an `Executors`, or any mapping).

    Raises:
        ReviewRejected, ReviewExpired: the review ended without approval; nothing ran.
        ContentMismatch: the content differs from what was approved; nothing ran.
        CommitInterrupted: an earlier attempt died in the middle of an action, or its executor
            raised something other than `ActionNotPerformed`, or another live process holds it
            too long, or the ledger's record of it cannot be read; that action did not run.
        ReviewGateError: an approved action's kind has no executor, the verdict names no flow
            run outside a flow run, or the ledger cannot be read; nothing ran.
    """
    if verdict.outcome is Outcome.REJECTED:
        raise ReviewRejected(f"review {verdict.review_id} was rejected: {verdict.reason}", verdict)
    if verdict.outcome is Outcome.EXPIRED:
        raise ReviewExpired(f"review {verdict.review_id} expired: {verdict.reason}", verdict)
    approved = list(verdict.actions)
    if content_hash(approved) != verdict.content_hash:
        raise ContentMismatch(
            f"review {verdict.review_id}: the approved actions do not match their content hash"
        )
    if actions is not None and content_hash(actions) != verdict.content_hash:
        raise ContentMismatch(
            f"review {verdict.review_id} approved other content than the actions given to commit; "
            "commit verdict.actions (a reviewer may have edited them) or request a new review"
        )
    runners = executors_for(executors, approved)
    flow_run_id = verdict.flow_run_id or _current_flow_run_id()
    if flow_run_id is None:
        raise ReviewGateError(
            f"review {verdict.review_id}: commit needs the review's flow run, where every host records "
            "its actions; commit the verdict request_review returned, or commit inside the flow run"
        )
    outcomes = []
    fresh = opened_here(verdict.review_id)
    async with CommitLedger.open(flow_run_id, legacy=not fresh) as ledger:
        # A run restarted after a kill -9 is a new run with new keys: the earlier runs of the same
        # flow and content that started committing decide whether an action may have happened.
        earlier = await ledger.earlier_commits(
            verdict.review_id, verdict.content_hash, _current_flow_id(flow_run_id)
        )
        for index, (action, run) in enumerate(zip(approved, runners, strict=True)):
            key = idempotency_key(verdict.review_id, index, verdict.content_hash)
            same = [
                EarlierAction(e, index, idempotency_key(e.review_id, index, verdict.content_hash))
                for e in earlier
            ]
            unclaimed = fresh and not same
            outcomes.append(
                await ledger.run_once(verdict.review_id, index, action, key, run, same, unclaimed=unclaimed)
            )
    report = CommitReport(
        review_id=verdict.review_id, content_hash=verdict.content_hash, actions=approved, outcomes=outcomes
    )
    _announce_commit(report)
    return report


def _current_flow_run_id() -> uuid.UUID | None:
    context = FlowRunContext.get()
    return context.flow_run.id if context is not None and context.flow_run is not None else None


def _current_flow_id(flow_run_id: uuid.UUID) -> uuid.UUID | None:
    """The flow of `flow_run_id` when this code runs inside that flow run, else None."""
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    return run.flow_id if run is not None and run.id == flow_run_id else None


def _announce_commit(report: CommitReport) -> None:
    """Emit `review_gate.committed`, related to the flow run committing, once per review and content."""
    context = FlowRunContext.get()
    related = []
    if context is not None and context.flow_run is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{context.flow_run.id}",
                "prefect.resource.role": "flow-run",
            }
        )
    emit_event(
        event="review_gate.committed",
        resource={"prefect.resource.id": f"review-gate.review.{report.review_id}"},
        related=related,
        payload={
            "review_id": report.review_id,
            "content_hash": report.content_hash,
            "actions": [o.kind for o in report.outcomes],
            "replayed": [o.replayed for o in report.outcomes],
        },
        # One id per review and content: a retry that replays the outcomes does not announce them again.
        id=uuid.uuid5(_EVENT_NAMESPACE, f"{report.review_id}:{report.content_hash}:committed"),
    )
