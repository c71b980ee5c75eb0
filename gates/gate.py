"""`request_review`: ask people whether an agent's actions may be committed, and wait for the answer.

This is the driver around the reducer in `review_state`: it opens the review, waits for each
decision the run receives, checks who vouches for it, hands it to `review_state.apply`, and performs
the effects. The rules (docs/architecture.md): fail closed; a decision binds to the content hash it
was made on; only listed reviewers decide, channel identities only as their channel verified them;
the requester never approves its own request; the first final outcome stands.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger

from prefect_review_gate.gates import review_state
from prefect_review_gate.gates.actions import Action, content_hash, parse_actions
from prefect_review_gate.gates.channels import ReviewChannel
from prefect_review_gate.gates.commit_index import interrupted_findings
from prefect_review_gate.gates.decision import Outcome, ReviewVerdict
from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.events import emit_review_event
from prefect_review_gate.gates.fresh_reviews import note_opened_here
from prefect_review_gate.gates.identity import normalize_identity
from prefect_review_gate.gates.policy import OnBlocking, ReviewPolicy
from prefect_review_gate.gates.proofs import DecisionIntake, vouching_channel
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest
from prefect_review_gate.gates.review_state import EditedContent, Effect, Received
from prefect_review_gate.gates.store import ReviewStore
from prefect_review_gate.gates.store_client import open_store
from prefect_review_gate.gates.votes import DecisionFields
from prefect_review_gate.gates.waiting import wait_for_decision
from prefect_review_gate.validators.errors import InputError, ReviewGateError
from prefect_review_gate.validators.findings import Finding

__all__ = ["GATE_TAG", "Revalidate", "request_review"]

GATE_TAG = "review-gate"

Revalidate = Callable[[Sequence[Action]], Sequence[Finding] | Awaitable[Sequence[Finding]]]
Clock = Callable[[], datetime]
Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def review_id_for(flow_run_id: object, digest: str) -> str:
    """Stable across re-runs of the same flow run with the same content."""
    return hashlib.sha256(f"{flow_run_id}:{digest}".encode()).hexdigest()[:12]


async def request_review(
    actions: Sequence[Action],
    *,
    policy: ReviewPolicy,
    findings: Sequence[Finding] = (),
    requester: str | None = None,
    revalidate: Revalidate | None = None,
    channels: Sequence[ReviewChannel] = (),
    clock: Clock = _utc_now,
) -> ReviewVerdict:
    """Open a review of `actions`, wait for the policy's decision, and return the verdict.

    Must run inside a flow run. From a deployment the run is suspended while people decide (no
    worker held) and re-runs from the top afterwards; everything before the gate must come back
    from persisted results. Outside a deployment the run pauses in-process.

    Args:
        actions: the side effects the agent proposes; nothing runs until `commit`.
        policy: who decides, how many approvals, the deadline, what blocking findings do.
        findings: the validators' findings on these actions, shown to reviewers as evidence.
        requester: who asks (an agent name or a person); defaults to the flow's name.
        revalidate: validators to run again on content a reviewer edited; without it an edit
            keeps the original findings.
        channels: where reviewers are told (Slack, a terminal); the Prefect UI form is always
            there. A channel that is also a `DecisionIntake` vouches for its own identities.
        clock: injected time, for tests.

    Returns:
        The verdict: approved (with the content approved), rejected or expired. Never raises for
        those outcomes; `commit` does.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow is None:
        raise ReviewGateError("request_review must be called inside a Prefect flow run")
    if not actions:
        raise InputError("request_review needs at least one action to review")
    logger = get_run_logger()
    flow_run: FlowRun = context.flow_run
    requester = normalize_identity(requester or f"agent:{context.flow.name}")
    intakes = [c for c in channels if isinstance(c, DecisionIntake)]
    async with open_store() as store:
        record, is_new = await _open(
            store, actions, findings, policy, requester, flow_run, context.flow.name, clock()
        )
        driver = _Driver(store, channels, logger)
        seen = record.decisions_seen
        if is_new:
            await driver.perform([review_state.Tell("notify", record)])

        if record.request.blocking and policy.on_blocking is OnBlocking.REJECT:
            step = review_state.reject_without_asking(record, clock())
            if is_new:
                await driver.perform(step.effects)
            return _verdict(step.record)

        sequence = 0
        while True:
            stored = await wait_for_decision(store, record, sequence, clock(), opened_here=is_new)
            if stored.decision is None:
                step = review_state.ignore(record, stored.problem, stored.received_at, sequence)
            else:
                received = await _receive(
                    stored.decision, stored.received_at, record.request, intakes, revalidate
                )
                step = review_state.apply(record, received, sequence)
            sequence += 1
            # A re-run after a suspend replays the decisions an earlier process already handled: it
            # rebuilds the same state but must not save, announce or post them again.
            if sequence > seen:
                await driver.perform(step.effects)
            record = step.record
            if step.closed:
                return _verdict(record)


async def _receive(
    decision: DecisionFields,
    received_at: datetime,
    request: ReviewRequest,
    intakes: Sequence[DecisionIntake],
    revalidate: Revalidate | None,
) -> Received:
    """A decision as the reducer takes it: who vouches for it, and its edit parsed and validated."""
    decision = decision.model_copy(
        update={
            "reviewer": normalize_identity(decision.reviewer),
            "member_of": normalize_identity(decision.member_of),
            # The Prefect UI's form sends the short version of the content it showed, not a hash.
            "content_hash": decision.decided_on(request.content_hash),
        }
    )
    verified_by = vouching_channel(
        decision.claims(request.id), decision.proof, [decision.reviewer, decision.member_of], intakes
    )
    edit = None
    if decision.edited_actions is not None and decision.outcome is Outcome.APPROVED:
        edit = await _edited_content(decision.edited_actions, revalidate)
    return Received(decision=decision, received_at=received_at, verified_by=verified_by, edit=edit)


async def _edited_content(
    edited_actions: list[dict[str, object]], revalidate: Revalidate | None
) -> EditedContent:
    try:
        edited = parse_actions(edited_actions)
    except InputError as exc:
        return EditedContent(actions=[], content_hash="", problem=str(exc))
    findings = None
    if revalidate is not None:
        result = revalidate(edited)
        findings = list(await result if isinstance(result, Awaitable) else result)
    return EditedContent(
        actions=[a.model_dump(mode="json") for a in edited],
        content_hash=content_hash(edited),
        findings=findings,
    )


async def _open(
    store: ReviewStore,
    actions: Sequence[Action],
    findings: Sequence[Finding],
    policy: ReviewPolicy,
    requester: str,
    flow_run: FlowRun,
    flow_name: str,
    now: datetime,
) -> tuple[ReviewRecord, bool]:
    """Create the review, or rebuild it when the flow re-runs. Returns (record, newly created).

    Everything that decides the outcome comes from the flow's own arguments and from the run's
    write-once inputs: the opening time (hence the deadline) from the first one the gate wrote.
    The stored record is read only for how many decisions were already announced.
    """
    digest = content_hash(actions)
    review_id = review_id_for(flow_run.id, digest)
    # A run restarted after a kill -9 asks again: reviewers see whether the last one was interrupted.
    findings = [*findings, *await interrupted_findings(flow_run.flow_id, digest, review_id)]
    created_at, is_new = await store.open_once(flow_run.id, review_id, now)
    request = ReviewRequest(
        id=review_id,
        flow_run_id=flow_run.id,
        flow_run_name=flow_run.name,
        flow_name=flow_name,
        deployment_id=flow_run.deployment_id,
        requester=requester,
        actions=[a.model_dump(mode="json") for a in actions],
        findings=list(findings),
        content_hash=digest,
        policy=policy,
        created_at=created_at,
        deadline=created_at + policy.timeout,
    )
    record = ReviewRecord(request=request, updated_at=now, note="Waiting for reviewers.")
    if not is_new:
        stored = await store.load(review_id)
        seen = stored.decisions_seen if stored is not None else 0
        return record.model_copy(update={"decisions_seen": seen}), False
    note_opened_here(review_id)
    await store.save(record)
    await store.write_findings(record)
    async with get_client() as client:
        # Tags make gated runs and each agent's runs filterable in the Prefect UI and automations.
        tags = [*flow_run.tags, *(t for t in (GATE_TAG, requester) if t not in flow_run.tags)]
        await client.update_flow_run(flow_run.id, tags=tags)
    emit_review_event("requested", record)
    return record, True


class _Driver:
    """Carries out what the reducer decided, in order: store writes, events, channel calls."""

    def __init__(self, store: ReviewStore, channels: Sequence[ReviewChannel], logger: Logger) -> None:
        self.store, self.channels, self.logger = store, channels, logger

    async def perform(self, effects: Sequence[Effect]) -> None:
        for effect in effects:
            match effect:
                case review_state.Write("record", record):
                    await self.store.save(record)
                case review_state.Write("findings", record):
                    await self.store.write_findings(record)
                case review_state.Write("decision", record):
                    self.logger.info("Review %s %s: %s", record.request.id, record.status.value, record.note)
                    await self.store.write_decision(record)
                case review_state.Announce(event, record, payload, sequence):
                    emit_review_event(event, record, payload, sequence)
                case review_state.Tell(what, record):
                    for channel in self.channels:
                        await _deliver(getattr(channel, what), record, self.logger, f"{channel.name}: {what}")
                case review_state.Warn(message):
                    self.logger.warning("%s", message)


def _verdict(record: ReviewRecord) -> ReviewVerdict:
    return ReviewVerdict(
        review_id=record.request.id,
        outcome=Outcome(record.status.value),
        content_hash=record.request.content_hash,
        actions=record.request.typed_actions(),
        votes=record.votes,
        reason=record.note,
        flow_run_id=record.request.flow_run_id,
    )


async def _deliver(
    send: Callable[[ReviewRecord], Awaitable[None]],
    record: ReviewRecord,
    logger: Logger,
    what: str,
) -> None:
    """Channels are best effort: a failure is logged and announced, and the review stays open."""
    try:
        await send(record)
    except DeliveryFailed as exc:
        logger.warning(
            "Could not deliver (%s): %s. The review stays answerable in the Prefect UI and CLI.", what, exc
        )
        emit_review_event("delivery_failed", record, {"channel": what, "error": str(exc)})
