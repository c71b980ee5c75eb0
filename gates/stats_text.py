"""The monitoring figures written out: a terminal report (`review-gate stats`) and markdown (the report flow).

Pure functions of `ReviewStats`. Agent names, flow names, reasons and reviewer names come from
records anyone with API access can write, so they are escaped for the terminal and for markdown.
"""

from __future__ import annotations

from prefect_review_gate.gates.review_text import format_age
from prefect_review_gate.gates.stats import GroupStats, ReviewStats, percentile
from prefect_review_gate.gates.terminal import printable

__all__ = ["markdown_report", "stats_table_rows", "text_report"]

_BAR_WIDTH = 20


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


def markdown_report(stats: ReviewStats) -> str:
    """The report artifact: one small chart per agent (bars of text: the UI shows no SVG), then details."""
    span = f"{stats.since:%Y-%m-%d %H:%M} to {stats.until:%Y-%m-%d %H:%M} UTC"
    lines = [f"# Review gate report, {span}", ""]
    agents = stats.agents()
    if not agents:
        return "\n".join([*lines, "No reviews were opened in this window."])
    lines += ["## Per agent", ""]
    lines += ["| agent | outcome | reviews | share |", "|---|---|---|---|"]
    for group in agents:
        rows = [
            ("fabrication", group.with_blocking),
            ("approved", group.approved),
            ("rejected", group.rejected),
            ("blocked by policy", group.blocked),
            ("expired", group.expired),
            ("open", group.open),
        ]
        for index, (what, count) in enumerate(rows):
            share = count / group.requested if group.requested else 0.0
            name = f"**{_md(group.agent)}** ({group.requested})" if index == 0 else ""
            lines.append(f"| {name} | {what} | {count} | `{_bar(share)}` {_pct(share)} |")
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
    share = stats.total.reviewer_share()
    if share:
        lines += ["", "## Reviewers' share", "", "| reviewer | votes | share |", "|---|---|---|"]
        lines += [
            f"| {_md(name)} | {stats.total.votes[name]} | `{_bar(s)}` {_pct(s)} |"
            for name, s in share.items()
        ]
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
