"""An action's summary as text: markdown for Prefect (the UI's resume form), plain for the terminal.

The text renderers of `ActionSummary`: kinds describe themselves, this decides how that reads.
Both surfaces show the same lines and differ only in emphasis and how much body fits (Slack's
mrkdwn has its own renderer, in `slack.render`, for its escaping and limits). Agent-written values
are folded to one line and cut, so they cannot add lines (a fake `- to:`) to what a reviewer reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from prefect_review_gate.validators.actions import ActionSummary, SummaryField

__all__ = ["markdown_escape", "summary_markdown", "summary_plain"]

_VALUE = 200
# Markdown's punctuation: escaped, an agent's `# Title` or `[link](url)` shows as typed.
_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def markdown_escape(text: str) -> str:
    """`text` with markdown's punctuation backslash-escaped, so that it renders as typed."""
    return _MARKUP.sub(r"\\\1", text)


def _same(text: str) -> str:
    return text


Escape = Callable[[str], str]


def _flat(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(field: SummaryField, escape: Escape, limit: int = _VALUE) -> str:
    text = _flat(field.value, limit)
    # A backtick inside would end the span early and let the rest read as markup.
    return "`" + text.replace("`", "'") + "`" if field.literal else escape(text)


def _labeled(field: SummaryField, escape: Escape, limit: int = _VALUE) -> str:
    value = _value(field, escape, limit)
    return f"{escape(_flat(field.label, 80))}: {value}" if field.label else value


def _lines(summary: ActionSummary, strong: str, excerpt: int, escape: Escape) -> list[str]:
    head = f"{strong}{escape(_flat(summary.headline, 150))}{strong}"
    if (to := summary.destination) is not None:
        value = _value(to, escape)
        head += f" {escape(_flat(to.label, 80))} {value}" if to.label else f" {value}"
    lines = [head, *(f"- {_labeled(field, escape)}" for field in summary.fields)]
    if summary.excerpt is not None:
        lines.append(f"- {_labeled(summary.excerpt, escape, excerpt)}")
    return lines


def summary_markdown(summary: ActionSummary) -> str:
    """Markdown for the Prefect UI: the headline in bold with its destination, one line per field.

    Values are escaped: a draft starting with `# ` stays text instead of becoming a heading.
    """
    return "\n".join(_lines(summary, strong="**", excerpt=600, escape=markdown_escape))


def summary_plain(summary: ActionSummary) -> str:
    """The same for a terminal, where bold markers are noise and a shorter body excerpt fits."""
    return "\n".join(_lines(summary, strong="", excerpt=280, escape=_same))
