"""Findings written for a person at a terminal: where, what, and what the sources say instead."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from prefect_review_gate.validators.findings import Finding, Severity

__all__ = ["format_pointer_report", "format_report", "print_block", "printable", "wants_color"]

_WINDOW = 70  # characters of the draft line shown on each side of a finding
_COLORS = {Severity.BLOCK: "\033[31m", Severity.WARN: "\033[33m", Severity.INFO: "\033[36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
# C0/C1 controls except tab and newline, and the bidirectional overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def print_block(text: str) -> None:
    """Write a command's output to stdout, ending in exactly one newline of its own."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def wants_color(stream: TextIO) -> bool:
    """Color only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def printable(text: str) -> str:
    """`text` with control and bidirectional-override characters shown as escapes (`\\x1b`).

    Agents write most of what a reviewer reads. An escape sequence, a carriage return or a
    right-to-left override in it could repaint or reorder the terminal and hide what is asked.
    """
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def format_report(draft_name: str, draft: str, findings: Sequence[Finding], color: bool = False) -> str:
    """A readable report: each finding with its line, the offending text marked, and the evidence."""
    paint = _Paint(color)
    lines: list[str] = []
    line_starts = [0] + [i + 1 for i, c in enumerate(draft) if c == "\n"]
    for finding in findings:
        lines.append("")
        if finding.start is None or finding.end is None:
            lines.append(f"{draft_name}: {paint(finding.severity, finding.code)}  {finding.message}")
        else:
            line_no = _line_of(line_starts, finding.start)
            column = finding.start - line_starts[line_no] + 1
            header = f"{draft_name}:{line_no + 1}:{column}: {paint(finding.severity, finding.code)}"
            lines.append(f"{header}  {finding.message}")
            lines.extend(_excerpt(draft, line_starts[line_no], finding.start, finding.end, paint))
        if finding.evidence:
            who = f"[{finding.evidence_source}] says" if finding.evidence_source else "evidence"
            lines.append(f"    {paint(None, who + ':')} {finding.evidence}")
    lines.append("")
    lines.append(_summary(findings))
    return "\n".join(lines).lstrip("\n") + "\n"


def format_pointer_report(name: str, document: Any, findings: Sequence[Finding], color: bool = False) -> str:
    """A readable report on a JSON document: each finding at its pointer, with the value it names."""
    paint = _Paint(color)
    lines: list[str] = []
    for finding in findings:
        pointer = finding.pointer or ""
        lines += [
            "",
            f"{name}#{pointer}: {paint(finding.severity, finding.code)}  {printable(finding.message)}",
        ]
        value = _resolve(document, pointer)
        if isinstance(value, str) and finding.start is not None and finding.end is not None:
            line_start = value.rfind("\n", 0, finding.start) + 1
            lines += [printable(x) for x in _excerpt(value, line_start, finding.start, finding.end, paint)]
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            lines.append(f"    {printable(str(value))[: 2 * _WINDOW]}")
        if finding.evidence:
            who = f"[{finding.evidence_source}] says" if finding.evidence_source else "evidence"
            lines.append(f"    {paint(None, who + ':')} {printable(finding.evidence)}")
    lines += [
        "",
        _summary(findings, nothing="No findings: every action and claim checked matches the world."),
    ]
    return "\n".join(lines).lstrip("\n") + "\n"


def _resolve(document: Any, pointer: str) -> Any:
    """The value an RFC 6901 pointer names, or None when it names nothing."""
    value = document
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            value = value.get(token)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


def _line_of(line_starts: list[int], offset: int) -> int:
    low, high = 0, len(line_starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if line_starts[middle] <= offset:
            low = middle
        else:
            high = middle - 1
    return low


def _excerpt(draft: str, line_start: int, start: int, end: int, paint: _Paint) -> list[str]:
    line_end = draft.find("\n", line_start)
    line_end = len(draft) if line_end < 0 else line_end
    mark_end = max(min(end, line_end), start + 1)
    left = max(line_start, start - _WINDOW)
    right = min(line_end, mark_end + _WINDOW)
    before, marked, after = draft[left:start], draft[start:mark_end], draft[mark_end:right]
    prefix = "…" if left > line_start else ""
    suffix = "…" if right < line_end else ""
    text = f"    {prefix}{before}{paint(Severity.BLOCK, marked, bold=True)}{after}{suffix}"
    underline = " " * (4 + len(prefix) + len(before)) + "^" * max(1, len(marked))
    return [text, underline]


_NOTHING_FOUND = "No findings: every citation, quote, number and URL checked is backed by the sources."


def _summary(findings: Sequence[Finding], nothing: str = _NOTHING_FOUND) -> str:
    blocking = sum(1 for f in findings if f.severity is Severity.BLOCK)
    warnings = sum(1 for f in findings if f.severity is Severity.WARN)
    if not findings:
        return nothing
    counts = f"{blocking} blocking finding{'s' * (blocking != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    if blocking:
        return f"{counts}. Fix or remove the marked claims, or have a reviewer override them with a reason."
    return f"{counts}. Nothing blocks; read the warnings before approving."


class _Paint:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, severity: Severity | None, text: str, bold: bool = False) -> str:
        if not self.color:
            return text
        code = _COLORS.get(severity, _DIM) if severity else _DIM
        return f"{_BOLD if bold else ''}{code}{text}{_RESET}"
