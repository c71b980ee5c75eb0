"""Block Kit for a review: what the agent wants done, the findings, who decides, and the buttons.

Rendered from the `ReviewRecord` alone (actions as JSON): each action from the summary its kind
gives (`Action.summary`), a kind not imported here from its fields as given. Everything an agent
wrote is escaped (no `<!channel>`, no disguised links) and cut to Block Kit's limits: 50 blocks,
3000 characters a section, 150 a header, 75 a button. What is cut is pointed to on Prefect (the
flow run and its findings artifact), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prefect_review_gate.gates.actions import SummaryField, summarize
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.slack.signing import ButtonAction, sign_button
from prefect_review_gate.gates.store import card_key
from prefect_review_gate.validators.findings import Finding, Severity

__all__ = [
    "ACTION_IDS",
    "MAX_BLOCKS",
    "MAX_SECTION",
    "action_mrkdwn",
    "buttons_block_id",
    "mention",
    "review_blocks",
    "review_text",
    "slack_escape",
]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON = 75
MAX_ACTION_SECTIONS = 30  # leaves room for the header, findings, status and buttons
_EXCERPT = 600

ACTION_IDS = {
    ButtonAction.APPROVE: "review_gate_approve",
    ButtonAction.REJECT: "review_gate_reject",
    ButtonAction.OVERRIDE: "review_gate_override",
}
Block = dict[str, Any]


def slack_escape(text: object) -> str:
    """Text shown as written: Slack's control sequences (<...>, &) are escaped."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int, pointer: str = "") -> str:
    if len(text) <= limit:
        return text
    tail = f"… (cut; {pointer})" if pointer else "…"
    return text[: max(limit - len(tail), 0)] + tail


def _line(value: object, limit: int = 200) -> str:
    """One line of agent-written text: escaped, whitespace folded, cut."""
    return _cut(slack_escape(" ".join(str(value).split())), limit)


def mention(identity: str) -> str:
    """A reviewer identity as Slack shows it: users and groups as mentions, other names as text."""
    if identity.startswith("slack-group:"):
        group, _, member = identity.removeprefix("slack-group:").partition("/")
        return f"<@{member}>" if member else f"<!subteam^{group}>"
    if identity.startswith("slack:"):
        return f"<@{identity.removeprefix('slack:')}>"
    return slack_escape(identity)


def _date(when: datetime) -> str:
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _section(text: str, pointer: str = "") -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION, pointer)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, 2000)}]}


def _value(field: SummaryField, limit: int) -> str:
    text = _line(field.value, limit)
    # A backtick inside would end the code span early and let the rest render as mrkdwn.
    return "`" + text.replace("`", "'") + "`" if field.literal else text


def action_mrkdwn(action: Mapping[str, Any]) -> str:
    """One action as mrkdwn, from the summary its kind gives (fields as given for a kind not known here)."""
    summary = summarize(action)
    head = f"*{_line(summary.headline, MAX_HEADER)}*"
    if (to := summary.destination) is not None:
        head += f" {_line(to.label, 80)} {_value(to, 500)}" if to.label else f" {_value(to, 500)}"
    lines = [head, *(f"• {_line(f.label, 80)}: {_value(f, 300)}" for f in summary.fields)]
    if summary.excerpt is not None:
        lines.append(">" + _line(summary.excerpt.value, _EXCERPT))
    return "\n".join(lines)


def _findings(request: ReviewRequest, pointer: str) -> list[Block]:
    if not request.findings:
        return [_section("*Findings*: none; the validators found nothing to flag.")]
    blocks = []
    for severity, label in (
        (Severity.BLOCK, "Blocking"),
        (Severity.WARN, "Warnings"),
        (Severity.INFO, "Info"),
    ):
        found: list[Finding] = [f for f in request.findings if f.severity is severity]
        if not found:
            continue
        lines = [f"*{label}* ({len(found)})"]
        for finding in found:
            where = f" at `{_line(finding.pointer, 80)}`" if finding.pointer else ""
            lines.append(f"• `{_line(finding.code, 60)}`{where}: {_line(finding.message, 400)}")
            if finding.evidence:
                lines.append(f"   sources say: _{_line(finding.evidence, 300)}_")
        blocks.append(_section("\n".join(lines), pointer))
    return blocks


def review_text(record: ReviewRecord) -> str:
    """The notification's plain text (fallback and push notifications)."""
    request = record.request
    state = "waiting for a decision" if record.is_open else record.status.value
    return _cut(
        f"Review {request.id}: {len(request.actions)} action(s) requested by {_line(request.requester)}, "
        f"{state}.",
        MAX_SECTION,
    )


def _status(record: ReviewRecord) -> str:
    policy = record.request.policy
    votes = [
        f"{mention(v.reviewer)} {v.outcome.value} ({v.provenance}, {_date(v.decided_at)})"
        + (f": {_line(v.comment or v.override_reason, 300)}" if (v.comment or v.override_reason) else "")
        for v in record.votes
        if v.decided_at is not None
    ]
    if record.status is ReviewStatus.OPEN:
        needed = policy.approvals_required - len(record.approvals)
        head = (
            f"*Waiting*: {len(record.approvals)}/{policy.approvals_required} approvals, {needed} more needed."
        )
    else:
        icon = {ReviewStatus.APPROVED: "✅", ReviewStatus.REJECTED: "⛔", ReviewStatus.EXPIRED: "⌛"}
        head = f"{icon.get(record.status, '')} *{record.status.value.title()}*. {_line(record.note, 600)}"
    return "\n".join([head, *votes])


def review_blocks(
    record: ReviewRecord, *, signing_secret: str, flow_run_url: str | None = None
) -> list[Block]:
    """The review message: buttons while it is open, the outcome once it is closed."""
    request = record.request
    artifact = card_key(request.id)
    run = (
        f"<{flow_run_url}|{_line(request.flow_run_name or request.flow_run_id, 80)}>" if flow_run_url else ""
    )
    pointer = (
        f"full text on the flow run {run}".strip() if run else f"full text: Prefect artifact `{artifact}`"
    )
    title = f"Review: {len(request.actions)} action(s) requested by {' '.join(request.requester.split())}"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, MAX_HEADER), "emoji": False}}
    ]
    policy = request.policy
    who = ", ".join(mention(r) for r in policy.reviewers)
    facts = [
        f"*Flow run*: {run or '`' + str(request.flow_run_id) + '`'}  ·  review `{request.id}`",
        f"*Who decides*: {policy.approvals_required} approval(s) from {who}"
        + ("" if policy.allow_requester else "; the requester may not decide"),
        f"*Deadline*: {_date(request.deadline)}",
    ]
    blocks.append(_section("\n".join(facts), pointer))
    blocks.append({"type": "divider"})
    shown = request.actions[:MAX_ACTION_SECTIONS]
    blocks += [_section(f"{i + 1}. " + action_mrkdwn(a), pointer) for i, a in enumerate(shown)]
    if len(request.actions) > len(shown):
        blocks.append(_context(f"… and {len(request.actions) - len(shown)} more action(s): {pointer}."))
    blocks.append({"type": "divider"})
    blocks += _findings(request, f"all findings: Prefect artifact `{artifact}`")
    blocks.append(_section(_status(record), pointer))
    if record.is_open:
        blocks.append(_buttons(request, signing_secret))
    if len(blocks) > MAX_BLOCKS:
        # Keep the head and the tail (status, buttons): what a reviewer acts on.
        tail = blocks[-2:] if record.is_open else blocks[-1:]
        head = blocks[: MAX_BLOCKS - len(tail) - 1]
        blocks = [*head, _context(f"Message cut to Slack's limit: {pointer}."), *tail]
    return blocks


def _button(text: str, action: ButtonAction, request: ReviewRequest, secret: str, style: str) -> Block:
    return {
        "type": "button",
        "action_id": ACTION_IDS[action],
        "text": {"type": "plain_text", "text": _cut(text, MAX_BUTTON), "emoji": False},
        "value": sign_button(secret, request.id, request.content_hash, action),
        "style": style,
    }


def _buttons(request: ReviewRequest, secret: str) -> Block:
    approve = (
        _button("Approve with override…", ButtonAction.OVERRIDE, request, secret, "primary")
        if request.blocking
        else _button("Approve", ButtonAction.APPROVE, request, secret, "primary")
    )
    reject = _button("Reject…", ButtonAction.REJECT, request, secret, "danger")
    return {"type": "actions", "block_id": buttons_block_id(request), "elements": [approve, reject]}


def buttons_block_id(request: ReviewRequest) -> str:
    """Each version of the buttons its own block id: Slack clients keep an element's state per block
    id, so buttons for edited content must not share one with those they replace."""
    return f"review_gate_{request.id}_r{request.round}_{request.content_hash[:8]}"
