"""Reviews written for a person at a terminal: the table of open reviews, and one review in full.

Pure functions of what `reviews` returns: no Prefect API call here, and time is passed in. Agents
wrote much of the text shown, so control characters are escaped and one-line fields stay on one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from prefect_review_gate.gates.policy import OnBlocking, ReviewPolicy
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest
from prefect_review_gate.gates.review_api import PendingReview
from prefect_review_gate.gates.terminal import printable
from prefect_review_gate.gates.votes import Vote
from prefect_review_gate.validators.findings import Finding

__all__ = [
    "action_lines",
    "action_preview",
    "format_age",
    "pending_document",
    "pending_table",
    "review_details",
    "review_document",
]

_COLUMNS = ("ID", "AGE", "REQUESTER", "FLOW RUN", "ACTIONS", "FINDINGS", "APPROVALS", "DUE", "WAITING")
_MAX_CELL = 32  # long agent or run names would push the table past a terminal's width
_EXCERPT = 280


def format_age(seconds: float) -> str:
    """A duration in its largest whole unit: `45s`, `3m`, `2h`, `4d`."""
    seconds = max(int(seconds), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _due(deadline: datetime, now: datetime) -> str:
    left = (deadline - now).total_seconds()
    return f"in {format_age(left)}" if left > 0 else f"overdue {format_age(-left)}"


def _findings_cell(request: ReviewRequest) -> str:
    total, blocking = len(request.findings), len(request.blocking)
    return f"{total} ({blocking} block)" if blocking else str(total)


def _approvals_cell(record: ReviewRecord) -> str:
    return f"{len(record.approvals)}/{record.request.policy.approvals_required}"


def _waiting_cell(pending: PendingReview) -> str:
    if pending.waiting:
        return "yes"
    return f"no ({pending.run_state})" if pending.run_state else "no (run gone)"


def _flat(text: str) -> str:
    """One line: a field an agent wrote must not start a line of its own in what reviewers read."""
    return " ".join(text.split())


def _clip(text: str, width: int = _MAX_CELL) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def pending_table(pending: Sequence[PendingReview], now: datetime) -> str:
    """Open reviews as an aligned table, with a line on what to do next."""
    if not pending:
        return "No open reviews.\n"
    rows = [_COLUMNS]
    for item in pending:
        request = item.record.request
        rows.append(
            (
                request.id,
                format_age((now - request.created_at).total_seconds()),
                _clip(_flat(request.requester)),
                _clip(_flat(request.flow_run_name or str(request.flow_run_id))),
                str(len(request.actions)),
                _findings_cell(request),
                _approvals_cell(item.record),
                _due(request.deadline, now),
                _waiting_cell(item),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return printable("\n".join([*lines, "", _pending_summary(pending, now)]) + "\n")


def _pending_summary(pending: Sequence[PendingReview], now: datetime) -> str:
    waiting = sum(1 for p in pending if p.waiting)
    overdue = sum(1 for p in pending if p.waiting and p.record.request.deadline <= now)
    plural = "s" * (len(pending) != 1)
    text = f"{len(pending)} open review{plural}, {waiting} waiting for a decision."
    if overdue:
        text += f" {overdue} past the deadline: `review-gate expire` closes them."
    return text + " `review-gate show ID` shows one in full."


def pending_document(pending: Sequence[PendingReview], now: datetime) -> dict[str, Any]:
    """`review-gate pending --json`: one object per open review, oldest first."""
    return {"reviews": [_summary_document(item, now) for item in pending]}


def _summary_document(item: PendingReview, now: datetime) -> dict[str, Any]:
    request = item.record.request
    return {
        "id": request.id,
        "requester": request.requester,
        "flow_run_id": str(request.flow_run_id),
        "flow_run_name": request.flow_run_name,
        "flow_name": request.flow_name,
        "created_at": request.created_at.isoformat(),
        "deadline": request.deadline.isoformat(),
        "age_seconds": round((now - request.created_at).total_seconds(), 3),
        "actions": len(request.actions),
        "findings": len(request.findings),
        "blocking_findings": len(request.blocking),
        "approvals": item.record.approvals,
        "approvals_required": request.policy.approvals_required,
        "waiting": item.waiting,
        "run_state": item.run_state,
    }


def review_document(item: PendingReview, flow_run_url: str | None) -> dict[str, Any]:
    """`review-gate show --json`: the whole record, where its run stands, and its URL."""
    return {
        "review": item.record.model_dump(mode="json"),
        "waiting": item.waiting,
        "run_state": item.run_state,
        "flow_run_url": flow_run_url,
    }


def review_details(item: PendingReview, now: datetime, flow_run_url: str | None) -> str:
    """One review in full: what is asked, the evidence, the rules, the votes, and how to decide."""
    record, request = item.record, item.record.request
    lines = [f"Review {request.id}: {_status_line(item)}", ""]
    lines += _overview(record, now, flow_run_url)
    lines += ["", f"Actions ({len(request.actions)})"]
    for index, action in enumerate(request.actions, start=1):
        lines += action_lines(index, action)
    lines += ["", _findings_heading(request)]
    lines += [line for finding in request.findings for line in _finding_lines(finding)] or [
        "  none: the validators found nothing to flag"
    ]
    lines += ["", f"Votes ({_approvals_cell(record)} approvals)"]
    lines += [_vote_line(vote) for vote in record.votes] or ["  none yet"]
    if record.is_open:
        lines += ["", *_how_to_decide(request)]
    return printable("\n".join(lines) + "\n")


def _status_line(item: PendingReview) -> str:
    status = item.record.status.value
    if item.waiting:
        return f"{status}, waiting for a decision (run {item.run_state})"
    if item.record.is_open:
        where = f"run {item.run_state}" if item.run_state else "its flow run no longer exists"
        return f"{status}, but not waiting for a decision now ({where})"
    return f"{status}" + (f" (run {item.run_state})" if item.run_state else "")


def _overview(record: ReviewRecord, now: datetime, flow_run_url: str | None) -> list[str]:
    request = record.request
    age = format_age((now - request.created_at).total_seconds())
    run = _flat(request.flow_run_name or str(request.flow_run_id))
    if request.flow_name:
        run += f" (flow {request.flow_name})"
    fields = [
        ("requested by", f"{_flat(request.requester)}, {age} ago ({_when(request.created_at)})"),
        ("flow run", run),
        ("url", flow_run_url or ""),
        ("deadline", f"{_when(request.deadline)} ({_due(request.deadline, now)})"),
        ("policy", _policy_text(request.policy)),
        ("content", f"sha256 {request.content_hash[:16]}… (round {request.round})"),
        ("note", _flat(record.note)),
    ]
    return [f"  {name:<13}{value}" for name, value in fields if value]


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M %Z}".strip()


def _policy_text(policy: ReviewPolicy) -> str:
    needed = policy.approvals_required
    parts = [f"{needed} approval{'s' * (needed != 1)} from: {', '.join(policy.reviewers)}"]
    parts.append("requester may decide" if policy.allow_requester else "requester may not decide")
    if policy.on_blocking is OnBlocking.REJECT:
        parts.append("blocking findings reject")
    else:
        parts.append("blocking findings need an override reason")
    return "; ".join(parts)


def action_preview(action: Mapping[str, Any]) -> str:
    """What an action will do, from its JSON form, as a terminal shows it."""
    # Imported here: the action kinds' models are for `show`, and `pending` starts without them.
    from prefect_review_gate.gates.action_text import summary_plain
    from prefect_review_gate.gates.actions import summarize

    return summary_plain(summarize(action))


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def action_lines(index: int, action: Mapping[str, Any]) -> list[str]:
    """One action numbered `index`, its summary's later lines indented under the first."""
    head, *rest = action_preview(action).splitlines() or [""]
    return [f"  {index}. {head}", *(f"     {line}".rstrip() for line in rest)]


def _findings_heading(request: ReviewRequest) -> str:
    blocking = len(request.blocking)
    return f"Findings ({len(request.findings)}" + (f", {blocking} blocking)" if blocking else ")")


def _finding_lines(finding: Finding) -> list[str]:
    where = finding.pointer or (f"chars {finding.start}-{finding.end}" if finding.start is not None else "")
    lines = [
        f"  {finding.severity.value:<5}  {_flat(finding.code)}: {_flat(finding.message)}"
        + (f" [{where}]" if where else "")
    ]
    if finding.evidence:
        sources = f" ({', '.join(finding.source_ids)})" if finding.source_ids else ""
        lines.append(f"         sources say{sources}: {_excerpt(finding.evidence)}")
    return lines


def _vote_line(vote: Vote) -> str:
    when = f" {_when(vote.decided_at)}" if vote.decided_at else ""
    line = f"  {_flat(vote.reviewer)}: {vote.outcome.value}, {vote.provenance}{when}"
    if vote.comment:
        line += f'; comment: "{_excerpt(vote.comment)}"'
    if vote.override_reason:
        line += f'; override reason: "{_excerpt(vote.override_reason)}"'
    return line


def _how_to_decide(request: ReviewRequest) -> list[str]:
    override = " --override-reason TEXT" if request.blocking else ""
    return [
        "To decide:",
        f"  review-gate approve {request.id} --as NAME [--comment TEXT]{override}",
        f"  review-gate reject {request.id} --as NAME --reason TEXT",
    ]
