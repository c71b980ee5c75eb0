"""The monitoring figures written out: a terminal report (`review-gate stats`) and markdown (the report flow).

Pure functions of `ReviewStats`. Agent names, flow names, reasons and reviewer names come from
records anyone with API access can write, so they are escaped for the terminal and for markdown.
"""

from __future__ import annotations

import html

from prefect_review_gate.gates.review_text import format_age
from prefect_review_gate.gates.stats import GroupStats, ReviewStats, percentile
from prefect_review_gate.gates.terminal import printable

__all__ = ["markdown_report", "stats_table_rows", "svg_chart", "text_report"]

_BAR_WIDTH = 20
# The chart's bars: what, and a colour a person reads at a glance (red is what the agent invented).
_CHART_ROWS = (
    ("fabricated", "#d64545"),
    ("approved", "#2f9e44"),
    ("rejected", "#e8590c"),
    ("blocked", "#862e9c"),
    ("expired", "#868e96"),
    ("open", "#1c7ed6"),
)
_CHART_LABEL, _CHART_BAR, _CHART_ROW = 90, 200, 18


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_age(seconds)


def _pct(rate: float) -> str:
    return f"{rate * 100:.0f}%"


def _counts(group: GroupStats) -> str:
    return (
        f"requested {group.requested}: approved {group.approved}, rejected {group.rejected}, "
        f"blocked by policy {group.blocked}, expired {group.expired}, abandoned {group.abandoned}, "
        f"open {group.open}"
    )


def _group_lines(group: GroupStats) -> list[str]:
    seconds = group.decision_seconds
    lines = [
        "  " + _counts(group),
        f"  fabrication rate {_pct(group.fabrication_rate)} ({group.with_blocking} of {group.requested} "
        f"with a blocking finding); findings {sum(group.findings.values())} "
        f"({group.findings_per_review:.2f} per review)",
    ]
    if group.findings:
        codes = ", ".join(f"{code} {n}" for code, n in group.findings.most_common())
        lines.append(f"  findings by code: {printable(codes)}")
    lines.append(
        f"  time to decision: p50 {_duration(percentile(seconds, 50))}, "
        f"p95 {_duration(percentile(seconds, 95))} ({len(seconds)} decided by people)"
    )
    lines.append(f"  edits: {group.edits} in {group.edited} review(s)")
    if group.refused:
        refused = ", ".join(f"{code} {n}" for code, n in group.refused.most_common())
        lines.append(f"  refused decisions: {refused}")
    if group.votes:
        share = ", ".join(f"{printable(name)} {_pct(s)}" for name, s in group.reviewer_share().items())
        lines.append(f"  reviewers' share: {share}")
    for override in group.overrides:
        reasons = "; ".join(override.reasons) or "(no reason recorded)"
        who = ", ".join(override.reviewers)
        lines.append(f"  override {override.review_id} by {printable(who)}: {printable(reasons)}")
    return lines


def text_report(stats: ReviewStats) -> str:
    """`review-gate stats` for a person: one block per agent and flow, then the total."""
    span = f"{stats.since:%Y-%m-%d %H:%M} to {stats.until:%Y-%m-%d %H:%M} UTC"
    lines = [f"Reviews opened {span}" + (f", agent {printable(stats.agent)}" if stats.agent else "")]
    if not stats.groups:
        lines.append("No reviews in this window.")
    for group in stats.groups:
        lines += ["", f"{printable(group.agent)} / {printable(group.flow or '(no flow name)')}"]
        lines += _group_lines(group)
    if len(stats.groups) > 1:
        lines += ["", "All agents", *_group_lines(stats.total)]
    if stats.unreadable:
        lines += ["", f"{stats.unreadable} record version(s) were unreadable and are not counted."]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """A table cell: no pipes, newlines or markup from agent-written text."""
    flat = " ".join(printable(text).split())
    for char in "\\|*_`[]<>":
        flat = flat.replace(char, "\\" + char)
    return flat


def _bar(rate: float) -> str:
    filled = round(rate * _BAR_WIDTH)
    return "█" * filled + "░" * (_BAR_WIDTH - filled)


def _chart_counts(group: GroupStats) -> dict[str, int]:
    return {
        "fabricated": group.with_blocking,
        "approved": group.approved,
        "rejected": group.rejected,
        "blocked": group.blocked,
        "expired": group.expired,
        "open": group.open,
    }


def svg_chart(group: GroupStats) -> str:
    """One agent's small bar chart, as an SVG block the Prefect UI renders inside markdown.

    The UI's markdown renderer passes an HTML block through DOMPurify with its SVG profile (no
    `style` attributes, no scripts), so the chart uses presentation attributes only. The block has
    no blank line inside: a blank line would end it, and the rest would show as text.
    """
    counts = _chart_counts(group)
    height = _CHART_ROW * (len(_CHART_ROWS) + 1) + 4
    width = _CHART_LABEL + _CHART_BAR + 80
    title = html.escape(f"{group.agent}: {group.requested} review(s)")
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{title}">',
        f'<text x="0" y="13" font-size="13" font-weight="bold" fill="currentColor">{title}</text>',
    ]
    for index, (what, colour) in enumerate(_CHART_ROWS):
        y = _CHART_ROW * (index + 1) + 4
        share = counts[what] / group.requested if group.requested else 0.0
        length = max(round(share * _CHART_BAR), 1 if counts[what] else 0)
        lines += [
            f'<text x="0" y="{y + 11}" font-size="11" fill="currentColor">{what}</text>',
            f'<rect x="{_CHART_LABEL}" y="{y + 2}" width="{_CHART_BAR}" height="11" fill="#e9ecef"/>',
            f'<rect x="{_CHART_LABEL}" y="{y + 2}" width="{length}" height="11" fill="{colour}"/>',
            f'<text x="{_CHART_LABEL + _CHART_BAR + 6}" y="{y + 11}" font-size="11" fill="currentColor">'
            f"{counts[what]} ({_pct(share)})</text>",
        ]
    lines.append("</svg>")
    return "\n".join(lines)


def markdown_report(stats: ReviewStats) -> str:
    """The report artifact: a small SVG chart per agent (the table artifact holds the same counts),
    then time to decision, findings by code, overrides, and the reviewers' share as text bars."""
    span = f"{stats.since:%Y-%m-%d %H:%M} to {stats.until:%Y-%m-%d %H:%M} UTC"
    lines = [f"# Review gate report, {span}", ""]
    agents = stats.agents()
    if not agents:
        return "\n".join([*lines, "No reviews were opened in this window."])
    lines += ["## Per agent", ""]
    for group in agents:
        lines += [svg_chart(group), ""]
    lines += ["", "## Time to decision and edits", ""]
    lines += [
        "| agent | flow | p50 | p95 | decided | edits | refused | overrides |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for group in stats.groups:
        seconds = group.decision_seconds
        refused = ", ".join(f"{c} {n}" for c, n in group.refused.most_common()) or "0"
        lines.append(
            f"| {_md(group.agent)} | {_md(group.flow)} | {_duration(percentile(seconds, 50))} | "
            f"{_duration(percentile(seconds, 95))} | {len(seconds)} | {group.edits} | {_md(refused)} | "
            f"{len(group.overrides)} |"
        )
    findings = [(g, code, n) for g in agents for code, n in g.findings.most_common()]
    if findings:
        lines += ["", "## Findings by code", "", "| agent | code | findings |", "|---|---|---|"]
        lines += [f"| {_md(g.agent)} | `{_md(code)}` | {n} |" for g, code, n in findings]
    overrides = [(g, o) for g in agents for o in g.overrides]
    if overrides:
        lines += ["", "## Overrides", "", "| agent | review | by | reason |", "|---|---|---|---|"]
        for group, o in overrides:
            reasons = "; ".join(o.reasons) or "(none recorded)"
            lines.append(
                f"| {_md(group.agent)} | `{o.review_id}` | {_md(', '.join(o.reviewers))} | {_md(reasons)} |"
            )
    shares = stats.total.reviewer_share()
    if shares:
        lines += ["", "## Reviewers' share", "", "| reviewer | votes | share |", "|---|---|---|"]
        for name, part in shares.items():
            lines.append(f"| {_md(name)} | {stats.total.votes[name]} | `{_bar(part)}` {_pct(part)} |")
    if stats.unreadable:
        lines += ["", f"{stats.unreadable} record version(s) were unreadable and are not counted."]
    return "\n".join(lines)


def stats_table_rows(stats: ReviewStats) -> list[dict[str, object]]:
    """The table artifact: one row per agent and flow, the figures a spreadsheet would want."""
    rows: list[dict[str, object]] = []
    for group in stats.groups:
        seconds = group.decision_seconds
        p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
        rows.append(
            {
                "agent": group.agent,
                "flow": group.flow,
                "requested": group.requested,
                "approved": group.approved,
                "rejected": group.rejected,
                "blocked_by_policy": group.blocked,
                "expired": group.expired,
                "abandoned": group.abandoned,
                "open": group.open,
                "fabrication_rate": round(group.fabrication_rate, 4),
                "findings_per_review": round(group.findings_per_review, 2),
                "overrides": len(group.overrides),
                "edits": group.edits,
                "refused": sum(group.refused.values()),
                "p50_decision_s": None if p50 is None else round(p50),
                "p95_decision_s": None if p95 is None else round(p95),
            }
        )
    return rows
