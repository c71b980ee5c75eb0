"""`request_review`: ask people whether an agent's actions may be committed, and wait for the answer.

The rules (DESIGN.md): fail closed; a decision binds to the content hash it was made on; only listed
reviewers decide; the requester never approves its own request; the first final outcome stands.
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

from prefect_review_gate.gates import records
from prefect_review_gate.gates.actions import Action, content_hash, parse_actions
from prefect_review_gate.gates.channels import ReviewChannel
from prefect_review_gate.gates.decision import Channel, Outcome, ReviewDecision, ReviewVerdict
from prefect_review_gate.gates.policy import OnBlocking, ReviewPolicy
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.waiting import wait_for_decision
from prefect_review_gate.validators.errors import DeliveryFailed, InputError, ReviewGateError
from prefect_review_gate.validators.findings import Finding, has_blocking

__all__ = ["GATE_TAG", "Revalidate", "request_review"]

GATE_TAG = "review-gate"

Revalidate = Callable[[Sequence[Action]], Sequence[Finding] | Awaitable[Sequence[Finding]]]
Clock = Callable[[], datetime]
# An expired decision may arrive a moment before the deadline by the sender's clock.
_EXPIRY_SKEW_SECONDS = 5.0


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
        revalidate: validators to run again on content a reviewer edited.
        channels: where reviewers are told (Slack, a terminal); the Prefect UI form is always there.
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
    requester = requester or f"agent:{context.flow.name}"
    record, is_new = await _open(actions, findings, policy, requester, flow_run, context.flow.name, clock())
    if not record.is_open:
        # The first final outcome stands: a retry or re-run gets it back without asking again.
        return _verdict(record)
    if is_new:
        for channel in channels:
            await _deliver(channel.notify, record, logger, f"{channel.name}: notify")

    if record.request.blocking and policy.on_blocking is OnBlocking.REJECT:
        note = f"{len(record.request.blocking)} blocking finding(s); the policy rejects without asking."
        vote = _gate_decision(record.request, Outcome.REJECTED, note, clock())
        return await _close(record, ReviewStatus.REJECTED, [vote], note, channels, logger)

    sequence = 0
    votes: list[ReviewDecision] = []
    # A re-run after a suspend replays the decisions already processed: it rebuilds the same state
    # but must not save, announce or post them again.
    seen = record.decisions_seen
    while True:
        decision, received_at = await wait_for_decision(record.request, sequence, clock())
        sequence += 1
        quiet = sequence <= seen
        arrived = received_at or clock()
        decision = decision.model_copy(update={"decided_at": decision.decided_at or arrived})
        request = record.request
        record = record.model_copy(update={"decisions_seen": max(seen, sequence), "updated_at": arrived})

        if arrived.timestamp() >= request.deadline.timestamp():
            note = "The deadline passed before the policy's approvals came in."
            late = _gate_decision(request, Outcome.EXPIRED, note, request.deadline)
            return await _close(record, ReviewStatus.EXPIRED, [*votes, late], note, channels, logger)
        problem = _refusal(decision, request, votes, arrived)
        if problem:
            record = record.model_copy(update={"note": f"Not counted ({decision.reviewer}): {problem}"})
            if not quiet:
                logger.warning("Decision from %r not counted: %s", decision.reviewer, problem)
                # Saved, so that whoever sent it sees why in `review-gate show`, not only in the logs.
                await _save(record)
                records.emit_review_event(
                    "refused", record, {"reviewer": decision.reviewer, "reason": problem}, str(sequence)
                )
            continue
        if decision.outcome is Outcome.REJECTED:
            note = f"Rejected by {decision.reviewer}" + (f": {decision.comment}" if decision.comment else ".")
            return await _close(record, ReviewStatus.REJECTED, [*votes, decision], note, channels, logger)
        if decision.edited_actions is not None:
            record, votes = await _replace_content(
                record, decision, revalidate, channels, logger, sequence, quiet
            )
            if len(votes) >= record.request.policy.approvals_required:
                note = f"Approved with edits by {', '.join(v.reviewer for v in votes)}."
                return await _close(record, ReviewStatus.APPROVED, votes, note, channels, logger)
            continue
        votes.append(decision)
        needed = policy.approvals_required
        if len(votes) >= needed:
            note = f"Approved by {', '.join(v.reviewer for v in votes)}."
            return await _close(record, ReviewStatus.APPROVED, votes, note, channels, logger)
        note = f"Approved by {decision.reviewer}; {needed - len(votes)} more approval(s) needed."
        record = record.model_copy(update={"votes": list(votes), "note": note})
        if quiet:
            continue
        await _save(record)
        records.emit_review_event("vote", record, {"reviewer": decision.reviewer}, str(sequence))
        for channel in channels:
            await _deliver(channel.update, record, logger, f"{channel.name}: update")


def _refusal(
    decision: ReviewDecision, request: ReviewRequest, votes: list[ReviewDecision], now: datetime
) -> str:
    """Why a decision does not count, or '' when it does."""
    if decision.outcome is Outcome.EXPIRED:
        if now.timestamp() < request.deadline.timestamp() - _EXPIRY_SKEW_SECONDS:
            return "'expired' is for the deadline; choose approved or rejected"
        return ""
    if decision.content_hash != request.content_hash:
        return "it was made on other content (stale content hash); decide on the current content"
    if not request.policy.may_decide(decision.reviewer, request.requester):
        if decision.reviewer == request.requester:
            return "the requester may not decide its own request"
        return "not a reviewer this policy lists"
    if any(v.reviewer == decision.reviewer for v in votes):
        return "already approved; approvals must come from distinct reviewers"
    # An edit replaces the blocked content and is validated again; only approving as is needs a reason.
    if (
        decision.outcome is Outcome.APPROVED
        and decision.edited_actions is None
        and request.blocking
        and not decision.override_reason.strip()
    ):
        return "approving despite blocking findings needs an override reason"
    return ""


async def _open(
    actions: Sequence[Action],
    findings: Sequence[Finding],
    policy: ReviewPolicy,
    requester: str,
    flow_run: FlowRun,
    flow_name: str,
    now: datetime,
) -> tuple[ReviewRecord, bool]:
    """Create the review, or find it again when the flow re-runs. Returns (record, newly created).

    On a re-run the request is rebuilt from the actions as given (its first round) with the stored
    id and deadline, because the decisions replayed next were made from that round on.
    """
    digest = content_hash(actions)
    review_id = review_id_for(flow_run.id, digest)
    async with get_client() as client:
        existing = await records.load_record(client, review_id)
    if existing is not None and not existing.is_open:
        return existing, False
    created_at = existing.request.created_at if existing else now
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
        deadline=existing.request.deadline if existing else now + policy.timeout,
    )
    if existing is not None:
        seen = existing.decisions_seen
        return ReviewRecord(request=request, updated_at=now, note=existing.note, decisions_seen=seen), False
    record = ReviewRecord(request=request, updated_at=now, note="Waiting for reviewers.")
    async with get_client() as client:
        await records.save_record(client, record)
        await records.write_findings_artifact(client, record)
        # Tags make gated runs and each agent's runs filterable in the Prefect UI and automations.
        tags = [*flow_run.tags, *(t for t in (GATE_TAG, requester) if t not in flow_run.tags)]
        await client.update_flow_run(flow_run.id, tags=tags)
    records.emit_review_event("requested", record)
    return record, True


async def _replace_content(
    record: ReviewRecord,
    decision: ReviewDecision,
    revalidate: Revalidate | None,
    channels: Sequence[ReviewChannel],
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    sequence: int,
    quiet: bool = False,
) -> tuple[ReviewRecord, list[ReviewDecision]]:
    """A reviewer edited the content: validate it again and start a new round on it.

    `quiet` replays an edit already announced (a re-run after a suspend): same state, no records.
    """
    try:
        edited = parse_actions(decision.edited_actions or [])
    except InputError as exc:
        logger.warning("Edit from %r not used: %s", decision.reviewer, exc)
        return record.model_copy(update={"note": f"Edit not used: {exc}"}), []
    findings: list[Finding] = []
    if revalidate is not None:
        result = revalidate(edited)
        findings = list(await result if isinstance(result, Awaitable) else result)
    digest = content_hash(edited)
    request = record.request.model_copy(
        update={
            "actions": [a.model_dump(mode="json") for a in edited],
            "findings": findings,
            "content_hash": digest,
            "round": record.request.round + 1,
        }
    )
    blocked = has_blocking(findings)
    # The editor approved what they wrote, unless it is blocked: then it goes back to review.
    votes = [] if blocked else [decision.model_copy(update={"content_hash": digest})]
    note = (
        f"{decision.reviewer} edited the content; the edit has blocking findings and needs review again."
        if blocked
        else f"{decision.reviewer} edited and approved the content."
    )
    for channel in [] if quiet else channels:
        await _deliver(channel.withdraw, record, logger, f"{channel.name}: withdraw")
    record = record.model_copy(update={"request": request, "votes": votes, "note": note})
    if quiet:
        return record, votes
    await _save(record)
    async with get_client() as client:
        await records.write_findings_artifact(client, record)
    records.emit_review_event("edited", record, {"reviewer": decision.reviewer}, str(sequence))
    for channel in channels:
        await _deliver(channel.notify, record, logger, f"{channel.name}: notify")
    return record, votes


def _gate_decision(request: ReviewRequest, outcome: Outcome, note: str, when: datetime) -> ReviewDecision:
    return ReviewDecision(
        outcome=outcome,
        reviewer="review-gate",
        comment=note,
        content_hash=request.content_hash,
        channel=Channel.GATE,
        decided_at=when,
    )


async def _close(
    record: ReviewRecord,
    status: ReviewStatus,
    votes: list[ReviewDecision],
    note: str,
    channels: Sequence[ReviewChannel],
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> ReviewVerdict:
    record = record.model_copy(
        update={"status": status, "votes": votes, "note": note, "updated_at": _utc_now()}
    )
    logger.info("Review %s %s: %s", record.request.id, status.value, note)
    await _save(record)
    async with get_client() as client:
        await records.write_decision_artifact(client, record, record.request.flow_run_id)
    records.emit_review_event(status.value, record, {"reviewers": [v.reviewer for v in votes]})
    for channel in channels:
        await _deliver(channel.update, record, logger, f"{channel.name}: update")
    return _verdict(record)


def _verdict(record: ReviewRecord) -> ReviewVerdict:
    return ReviewVerdict(
        review_id=record.request.id,
        outcome=Outcome(record.status.value),
        content_hash=record.request.content_hash,
        actions=record.request.typed_actions(),
        votes=record.votes,
        reason=record.note,
    )


async def _save(record: ReviewRecord) -> None:
    async with get_client() as client:
        await records.save_record(client, record)


async def _deliver(
    send: Callable[[ReviewRecord], Awaitable[None]],
    record: ReviewRecord,
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    what: str,
) -> None:
    """Channels are best effort: a failure is logged and announced, and the review stays open."""
    try:
        await send(record)
    except DeliveryFailed as exc:
        logger.warning(
            "Could not deliver (%s): %s. The review stays answerable in the Prefect UI and CLI.", what, exc
        )
        records.emit_review_event("delivery_failed", record, {"channel": what, "error": str(exc)})
