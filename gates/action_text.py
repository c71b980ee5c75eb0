"""An action's summary as text: markdown for Prefect (the UI's resume form), plain for the terminal.

The text renderers of `ActionSummary`: kinds describe themselves, this decides how that reads.
Both surfaces show the same lines and differ only in emphasis and how much body fits (Slack's
mrkdwn has its own renderer, in `slack.render`, for its escaping and limits). Agent-written values
are folded to one line and cut, so they cannot add lines (a fake `- to:`) to what a reviewer reads.
"""

from __future__ import annotations

from prefect_review_gate.validators.actions import ActionSummary, SummaryField

__all__ = ["summary_markdown", "summary_plain"]

_VALUE = 200


def _flat(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(field: SummaryField, limit: int = _VALUE) -> str:
    text = _flat(field.value, limit)
    # A backtick inside would end the span early and let the rest read as markup.
    return "`" + text.replace("`", "'") + "`" if field.literal else text


def _labeled(field: SummaryField, limit: int = _VALUE) -> str:
    return f"{_flat(field.label, 80)}: {_value(field, limit)}" if field.label else _value(field, limit)


def _lines(summary: ActionSummary, strong: str, excerpt: int) -> list[str]:
    head = f"{strong}{_flat(summary.headline, 150)}{strong}"
    if (to := summary.destination) is not None:
        head += f" {_flat(to.label, 80)} {_value(to)}" if to.label else f" {_value(to)}"
    lines = [head, *(f"- {_labeled(field)}" for field in summary.fields)]
    if summary.excerpt is not None:
        lines.append(f"- {_labeled(summary.excerpt, excerpt)}")
    return lines


def summary_markdown(summary: ActionSummary) -> str:
    """Markdown for the Prefect UI: the headline in bold with its destination, one line per field."""
    return "\n".join(_lines(summary, strong="**", excerpt=600))


def summary_plain(summary: ActionSummary) -> str:
    """The same for a terminal, where bold markers are noise and a shorter body excerpt fits."""
    return "\n".join(_lines(summary, strong="", excerpt=280))
