"""CLOSER: Claude brings changed deals up to date; validators check against the CRM; a person decides.

    CRM (changed deals, or one) -> Claude per deal (tool calls) -> validators -> review gate -> CRM + e-mail

- A deal whose agent reports a blocker gets no actions; when every deal is blocked the run ends
  `Blocked` and nobody is asked.
- A reply that cannot be used, a missing CRM or a bad input fails the run before any review.
- The CRM read, Claude's calls and the checked proposal are tasks with persisted, run-scoped
  results: after a suspend the flow body re-runs from the top and gets them back, so the content
  people approved is the content committed, even if the CRM moved meanwhile (the compare-and-set
  of each deal update then refuses to overwrite what moved).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.states import Completed

from prefect_review_gate.flows.closer import AGENT, REQUESTER
from prefect_review_gate.flows.closer.actions import ACTION_KINDS, CloserAction
from prefect_review_gate.flows.closer.agent import Proposal, build_request, read_reply
from prefect_review_gate.flows.closer.crm.model import Crm, DealSnapshot
from prefect_review_gate.flows.closer.crm.settings import open_crm
from prefect_review_gate.flows.closer.executors import agent_executors
from prefect_review_gate.flows.closer.sources import deal_sources
from prefect_review_gate.flows.closer.world import crm_world
from prefect_review_gate.flows.common.blocked import stop_blocked
from prefect_review_gate.flows.common.boundaries import Blocker
from prefect_review_gate.flows.common.claude_task import claude_task
from prefect_review_gate.flows.common.errors import ModelRefused
from prefect_review_gate.flows.common.review import review_and_commit, review_policy
from prefect_review_gate.flows.common.run_cache import run_scoped_key
from prefect_review_gate.flows.common.smtp import SmtpSettings
from prefect_review_gate.gates import Action
from prefect_review_gate.gates.actions import UpdateDeal, parse_actions
from prefect_review_gate.validators.actions import kind_of
from prefect_review_gate.validators.errors import InputError
from prefect_review_gate.validators.findings import Finding, Severity
from prefect_review_gate.validators.proposals import validate_proposal
from prefect_review_gate.validators.world import DEAL_FIELDS

__all__ = ["REQUESTER", "check_proposal", "deal_support_flow", "default_since"]

KINDS = [kind_of(model) for model in ACTION_KINDS]
DEFAULT_ALLOWED = ["crm.log_note", "email.send"]

ask_claude = claude_task(AGENT, description="Tokens and cost of the deal agent's call")


async def _with_crm(work: Any) -> Any:
    """`work(crm)` on the configured CRM, in a thread (sqlite3 and httpx block), then closed."""
    crm = await open_crm()

    def run() -> Any:
        try:
            return work(crm)
        finally:
            crm.close()

    return await asyncio.to_thread(run)


def default_since(now: datetime, lookback_hours: float) -> datetime:
    """`lookback_hours` before `now`; on Mondays also over the weekend, which a weekday schedule skips."""
    weekend = timedelta(days=2) if now.weekday() == 0 else timedelta(0)
    return now - timedelta(hours=lookback_hours) - weekend


@task(name="read-deals", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def read_deals(
    deal_id: str | None, changed_since: datetime | None, lookback_hours: float, max_deals: int
) -> dict[str, Any]:
    """The deals to work on, with their contacts, company and notes, and the pipeline's stages."""
    since = changed_since or default_since(datetime.now(UTC), lookback_hours)

    def read(crm: Crm) -> dict[str, Any]:
        if deal_id:
            snapshot = crm.snapshot(deal_id)
            if snapshot is None:
                raise InputError(f"there is no deal {deal_id!r} in the CRM")
            snapshots = [snapshot]
        else:
            deals = crm.changed_deals(since, max_deals)
            snapshots = [s for s in (crm.snapshot(d.id) for d in deals) if s is not None]
        return {
            "since": since.isoformat(),
            "stages": crm.stages(),
            "snapshots": [s.model_dump(mode="json") for s in snapshots],
        }

    result: dict[str, Any] = await _with_crm(read)
    return result


def with_before(actions: Sequence[Action], crm: Crm) -> list[Action]:
    """Each deal update with the CRM's current values of the fields it changes, for reviewers."""
    deal_ids = [a.deal_id for a in actions if isinstance(a, UpdateDeal)]
    deals = crm.deals(deal_ids) if deal_ids else {}
    filled: list[Action] = []
    for action in actions:
        deal = deals.get(action.deal_id) if isinstance(action, UpdateDeal) else None
        if isinstance(action, UpdateDeal) and deal is not None:
            current = deal.fields()
            before = {k: current[k] for k in action.changes if k in DEAL_FIELDS and k != "id"}
            action = action.model_copy(update={"before": before})
        filled.append(action)
    return filled


def check_proposal(
    actions: Sequence[Action],
    crm: Crm,
    snapshots: Sequence[DealSnapshot],
    sources: dict[str, str],
    request: str,
    allowed: Sequence[str],
) -> list[Finding]:
    """The `validate-actions` rules on `actions`, against the CRM now and the deals' documents."""
    data = [a.model_dump(mode="json") for a in actions]
    world = crm_world(crm, snapshots, data, sources)
    proposal = {"task": {"request": request, "allowed_actions": list(allowed)}, "actions": data}
    return validate_proposal(proposal, world)


@task(name="check-proposal", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def prepare_review(
    actions: list[dict[str, Any]],
    snapshots: list[dict[str, Any]],
    sources: dict[str, str],
    request: str,
    allowed: list[str],
) -> dict[str, Any]:
    """The actions as reviewers will see them (deal updates with their before values), and the findings."""
    parsed = parse_actions(actions)
    deals = [DealSnapshot.model_validate(s) for s in snapshots]

    def prepare(crm: Crm) -> dict[str, Any]:
        filled = with_before(parsed, crm)
        findings = check_proposal(filled, crm, deals, sources, request, allowed)
        return {
            "actions": [a.model_dump(mode="json") for a in filled],
            "findings": [f.model_dump(mode="json") for f in findings],
        }

    result: dict[str, Any] = await _with_crm(prepare)
    return result


@task(name="record-deals", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def record_deals(since: str, lines: list[str]) -> None:
    """What the agent did with each deal, on the run."""
    markdown = "\n".join([f"# Deals worked on (changed since {since})", "", *lines])
    await acreate_markdown_artifact(
        markdown=markdown,
        key=f"{AGENT}-deals",
        description="The deals CLOSER worked on, and what it proposed",
    )


@flow(name="closer-deals")
async def deal_support_flow(
    request: str,
    reviewers: list[str],
    allowed_actions: list[str] | None = None,
    deal_id: str | None = None,
    changed_since: datetime | None = None,
    lookback_hours: float = 24.0,
    max_deals: int = 25,
    approvals_required: int = 1,
    timeout_hours: float = 4.0,
    on_blocking: Literal["require_override", "reject"] = "require_override",
) -> Any:
    """Work on the deals that changed (or one deal) with Claude, check its proposal, ask `reviewers`, commit.

    Args:
        request: what to do with each deal, in a person's words.
        reviewers: who may approve (names as the CLI and UI use them, or Slack ids).
        allowed_actions: the action kinds the request allows (default: log a note, send an e-mail);
            anything else the agent proposes is flagged `unrequested_action`.
        deal_id: work on this deal only; otherwise on the deals changed since `changed_since`
            (default: `lookback_hours` before now, and on Mondays the weekend too), at most `max_deals`.
        approvals_required, timeout_hours, on_blocking: the review policy.
    """
    allowed = list(DEFAULT_ALLOWED if allowed_actions is None else allowed_actions)
    unknown = sorted(set(allowed) - set(KINDS))
    if not request.strip() or unknown:
        what = f"unknown action kinds {unknown}; CLOSER's are {KINDS}" if unknown else "a request"
        raise InputError(f"the deal support flow needs {what}")
    if max_deals < 1 or lookback_hours <= 0:
        raise InputError("max_deals and lookback_hours must be positive")
    policy = review_policy(reviewers, approvals_required, timeout_hours, on_blocking)
    read = await read_deals(deal_id, changed_since, lookback_hours, max_deals)
    snapshots = [DealSnapshot.model_validate(s) for s in read["snapshots"]]
    if not snapshots:
        return Completed(
            name="Nothing to do", message=f"No deal changed since {read['since']}; nobody was asked."
        )

    proposals: list[Proposal] = []
    blockers: list[tuple[str, Blocker]] = []
    lines: list[str] = []
    for snapshot in snapshots:
        deal = snapshot.deal
        sources = deal_sources([snapshot], read["stages"])
        message = await ask_claude(build_request(deal.id, request, allowed, sources))
        try:
            answer: Proposal | Blocker = read_reply(message, deal.id)
        except ModelRefused as refused:
            # One deal's refusal stops that deal, as a blocker would: the others go on.
            answer = Blocker(refused.reason)
        if isinstance(answer, Blocker):
            blockers.append((deal.id, answer))
            lines.append(f"- **{deal.id}** {deal.name}: the agent stopped: {answer.describe()}")
        else:
            proposals.append(answer)
            kinds = ", ".join(a.kind for a in answer.actions)
            lines.append(f"- **{deal.id}** {deal.name}: {len(answer.actions)} action(s) proposed ({kinds})")
    await record_deals(read["since"], lines)
    if not proposals:
        reasons = "; ".join(f"deal {deal}: {blocker.reason}" for deal, blocker in blockers)
        return await stop_blocked(
            Blocker(reasons, tuple(m for _, b in blockers for m in b.missing)),
            artifact_key=f"{AGENT}-blocker",
            description="Why the deal agent proposed nothing",
        )

    actions: list[CloserAction] = [a for p in proposals for a in p.actions]
    if any(a.kind == "email.send" for a in actions):
        SmtpSettings.from_env()  # a sink that cannot send is found now, not after someone approved
    sources = deal_sources(snapshots, read["stages"])
    snapshot_data = [s.model_dump(mode="json") for s in snapshots]
    prepared = await prepare_review(
        [a.model_dump(mode="json") for a in actions], snapshot_data, sources, request, allowed
    )
    reviewed = parse_actions(prepared["actions"])
    findings = [Finding.model_validate(f) for f in prepared["findings"]]
    findings += [
        Finding(
            code="agent_blocked",
            severity=Severity.WARN,
            message=f"Deal {deal}: the agent proposed nothing: {blocker.describe()}",
        )
        for deal, blocker in blockers
    ]

    async def revalidate(edited: Sequence[Action]) -> list[Finding]:
        """A reviewer's edit is checked against the CRM and the same documents before it can commit."""
        return list(
            await _with_crm(lambda crm: check_proposal(edited, crm, snapshots, sources, request, allowed))
        )

    return await review_and_commit(
        reviewed,
        policy=policy,
        findings=findings,
        requester=REQUESTER,
        executors=agent_executors(),
        revalidate=revalidate,
    )
