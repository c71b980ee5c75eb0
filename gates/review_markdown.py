"""A review as markdown for the Prefect UI: the resume form's description and the review's card.

Agents wrote most of what is shown (drafts, e-mail bodies, finding messages and evidence), and the
Prefect UI renders markdown: a draft starting with `# ` would become a giant heading, a newline
followed by `- to:` a fake field. So every agent-written value goes through `text()`: folded to
one line, cut, and with markdown's punctuation escaped. Findings are placed by line in the value
they concern (`action 1 body, line 13`), never by character offsets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect_review_gate.gates.action_text import markdown_escape, summary_markdown
from prefect_review_gate.gates.actions import summarize
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest
from prefect_review_gate.gates.review_state import NOT_COUNTED
from prefect_review_gate.gates.votes import Vote
from prefect_review_gate.validators.findings import Finding, Severity

__all__ = ["finding_where", "review_card", "review_summary", "text"]

_SEVERITY = {Severity.BLOCK: "BLOCKS", Severity.WARN: "warning", Severity.INFO: "note"}


def text(value: object, limit: int = 300) -> str:
    """Agent-written `value` as inert markdown: one line, at most `limit` characters, escaped."""
    flat = " ".join(str(value).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return markdown_escape(flat)


def _code(value: str) -> str:
    """A code span: nothing inside is markup, so no escapes; a backtick would end it early."""
    flat = " ".join(value.split())[:60].replace("`", "'")
    return f"`{flat}`" if flat else ""


def finding_where(finding: Finding, actions: Sequence[Mapping[str, Any]]) -> str:
    """Where a finding is, for a person: `body, line 13` (`action 2 body, line 13` when there are
    several actions), from its pointer and offset.

    A span without a pointer is a draft validator's (FORGE): offsets into the text of the one
    action's `body`, the field such validators check.
    """
    pointer = finding.pointer or ""
    if not pointer and finding.start is not None and len(actions) == 1:
        body = actions[0].get("body")
        if isinstance(body, str) and (finding.end or 0) <= len(body):
            pointer = "/actions/0/body"
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    value: Any = {"actions": list(actions)}
    for token in tokens:
        if isinstance(value, Mapping):
            value = value.get(token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            value = None
            break
    place = ""
    if len(tokens) >= 2 and tokens[0] == "actions" and tokens[1].isdigit():
        # With one action, its field says where; with several, which action too.
        action = [] if len(actions) == 1 else [f"action {int(tokens[1]) + 1}"]
        place = " ".join([*action, *tokens[2:]]) or "action 1"
    elif tokens:
        place = pointer
    if isinstance(value, str) and finding.start is not None:
        line = value.count("\n", 0, finding.start) + 1
        return f"{place}, line {line}" if place else f"line {line}"
    return place


def _finding_line(finding: Finding, actions: Sequence[Mapping[str, Any]], limit: int) -> str:
    where = finding_where(finding, actions)
    at = f" ({text(where, 80)})" if where else ""
    return f"- **{_SEVERITY[finding.severity]}**{at}: {text(finding.message, limit)}"


def _findings_heading(request: ReviewRequest) -> str:
    blocking = len(request.blocking)
    if not request.findings:
        return "**Findings: none.** The validators found nothing to flag."
    extra = f", **{blocking} blocking**: approving needs a reason" if blocking else ""
    return f"**Findings: {len(request.findings)}**{extra}"


def _headline(index: int, action: Mapping[str, Any]) -> str:
    first, *_ = summary_markdown(summarize(action)).splitlines() or [""]
    return f"{index}. {first}"


def review_summary(record: ReviewRecord) -> str:
    """The resume form's description: why the last decision did not count, then the review, short.

    At 1366x768 the form's description gets about 400 pixels before the fields: the actions'
    headlines and one line per finding come first; each action's fields and each finding's
    evidence follow under "Details", after the fields of the form have been reached by scrolling.
    """
    request = record.request
    lines: list[str] = []
    if record.note.startswith(NOT_COUNTED):
        lines += [f"> **Your last decision did not count.** {text(record.note, 400)}", ""]
    who = ", ".join(request.policy.reviewers)
    needed = request.policy.approvals_required
    lines += [
        f"**Review {request.id}** by {text(request.requester, 60)}: {needed} approval"
        f"{'s' * (needed != 1)} from {text(who, 120)} (have {len(record.approvals)}), "
        f"before {request.deadline:%Y-%m-%d %H:%M %Z}.",
        "",
        f"**Actions: {len(request.actions)}**",
        "",
        *(_headline(i, a) for i, a in enumerate(request.actions, start=1)),
        "",
        _findings_heading(request),
        "",
        *(_finding_line(f, request.actions, 72) for f in request.findings),
        "",
        "Choose **approved** or **rejected** and your name below"
        + ("; write a reason: findings block." if request.blocking else "."),
        "",
        "**Details**",
        "",
    ]
    lines += _details(request)
    return "\n".join(lines)


def _details(request: ReviewRequest) -> list[str]:
    lines: list[str] = []
    for index, action in enumerate(request.actions, start=1):
        lines += [f"{index}. " + summary_markdown(summarize(action)).replace("\n", "\n   "), ""]
    for finding in request.findings:
        lines.append(_finding_line(finding, request.actions, 300))
        if finding.evidence:
            source = f" [{text(finding.evidence_source, 40)}]" if finding.evidence_source else ""
            lines.append(f"  - sources say{source}: {text(finding.evidence, 400)}")
    return lines


def review_card(record: ReviewRecord) -> str:
    """The review's one card in the Prefect UI's Artifacts tab, rewritten as the review moves on."""
    request = record.request
    lines = [
        f"# Review {request.id}: {record.status.value}",
        "",
        text(record.note, 600) or "Waiting for reviewers.",
        "",
        f"Requested by {text(request.requester, 80)} on {request.created_at:%Y-%m-%d %H:%M %Z}; "
        f"decide before {request.deadline:%Y-%m-%d %H:%M %Z}. Content round {request.round}, "
        f"sha256 `{request.content_hash[:12]}`.",
        "",
        f"## Actions ({len(request.actions)})",
        "",
    ]
    for index, action in enumerate(request.actions, start=1):
        lines += [f"{index}. " + summary_markdown(summarize(action)).replace("\n", "\n   "), ""]
    lines += [f"## Findings ({len(request.findings)}, {len(request.blocking)} blocking)", ""]
    if request.findings:
        lines += ["| severity | where | finding | sources say |", "|---|---|---|---|"]
        lines += [_finding_row(f, request.actions) for f in request.findings]
    else:
        lines.append("None: the validators found nothing to flag.")
    needed = request.policy.approvals_required
    lines += ["", f"## Votes ({len(record.approvals)}/{needed} approvals)", ""]
    if record.votes:
        lines += ["| reviewer | outcome | identity | when | comment | override reason |"]
        lines += ["|---|---|---|---|---|---|"]
        lines += [_vote_row(v) for v in record.votes]
    else:
        lines.append("None yet.")
    return "\n".join(lines)


def _finding_row(finding: Finding, actions: Sequence[Mapping[str, Any]]) -> str:
    cells = [
        _SEVERITY[finding.severity],
        text(finding_where(finding, actions), 80),
        f"{_code(finding.code)} {text(finding.message, 300)}",
        text(finding.evidence or "", 300),
    ]
    return "| " + " | ".join(cells) + " |"


def _vote_row(vote: Vote) -> str:
    cells = [
        text(vote.reviewer, 80) + (f" (in {text(vote.member_of, 80)})" if vote.member_of else ""),
        vote.outcome.value,
        vote.provenance,
        f"{vote.decided_at:%Y-%m-%d %H:%M:%S %Z}" if vote.decided_at else "",
        text(vote.comment, 300),
        text(vote.override_reason, 300),
    ]
    return "| " + " | ".join(cells) + " |"
