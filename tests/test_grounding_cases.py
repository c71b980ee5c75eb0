"""Grounding v2 (issue #15) scored on labeled cases written from real third-party documents.

tests/grounding_cases/ holds one folder per case in the shared eval layout (draft.md, sources/,
labels.json); build.py writes them from its templates and source_texts/ (origins in ORIGIN.md).
Every planted fabrication must be caught at its label's severity or above; nothing else may block.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prefect_review_gate.validators import Finding, SourceLibrary, validate_draft

CASES = Path(__file__).parent / "grounding_cases"
sys.path.insert(0, str(CASES))
import build  # noqa: E402

CASE_DIRS = sorted(p for p in CASES.iterdir() if (p / "labels.json").exists())


def _labels(case: Path) -> list[dict[str, object]]:
    labels: list[dict[str, object]] = json.loads((case / "labels.json").read_text(encoding="utf-8"))[
        "fabrications"
    ]
    return labels


def _overlaps(finding: Finding, label: dict[str, object]) -> bool:
    start, end = int(str(label["start"])), int(str(label["end"]))
    return (
        finding.start is not None and finding.end is not None and finding.start < end and start < finding.end
    )


def _findings(case: Path) -> list[Finding]:
    draft = (case / "draft.md").read_text(encoding="utf-8")
    return validate_draft(draft, SourceLibrary.from_folder(case / "sources"))


def test_the_committed_cases_are_what_build_writes(tmp_path: Path) -> None:
    build.build(tmp_path)
    for case in CASE_DIRS:
        for name in ("draft.md", "labels.json"):
            assert (tmp_path / case.name / name).read_text(encoding="utf-8") == (case / name).read_text(
                encoding="utf-8"
            ), f"{case.name}/{name} is stale: run python tests/grounding_cases/build.py"


def test_every_category_of_the_issue_has_a_case() -> None:
    codes = {str(label["code"]) for case in CASE_DIRS for label in _labels(case)}
    assert codes >= {
        "misattributed_number",
        "misattributed_quote",
        "altered_quote",
        "unsupported_number",
        "unsupported_quote",
        "unsupported_date",
        "uncited_number",
        "unknown_url",
    }
    assert any(not _labels(case) for case in CASE_DIRS), "a clean case is part of the set"


@pytest.mark.parametrize("case", CASE_DIRS, ids=lambda p: p.name)
def test_each_label_is_caught_at_its_severity(case: Path) -> None:
    findings = _findings(case)
    for label in _labels(case):
        weigh = ("block",) if label["severity"] == "block" else ("block", "warn")
        caught = [f for f in findings if _overlaps(f, label) and f.severity.value in weigh]
        assert caught, f"missed {label['code']} {label['text']!r}"


@pytest.mark.parametrize("case", CASE_DIRS, ids=lambda p: p.name)
def test_nothing_else_blocks_and_nothing_unlabeled_warns(case: Path) -> None:
    labels = _labels(case)
    for finding in _findings(case):
        assert any(_overlaps(finding, label) for label in labels), (
            f"{finding.code} ({finding.severity.value}) matches no label: {finding.message}"
        )


def test_the_cli_prints_the_new_codes_in_its_json() -> None:
    case = CASES / "changelog-and-benchmarks"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "prefect_review_gate.gates.cli",
            "validate",
            str(case / "draft.md"),
            *(
                "--sources",
                str(case / "sources"),
                "--json",
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    printed = json.loads(proc.stdout)
    codes = {f["code"]: f["severity"] for f in printed["findings"]}
    assert codes["misattributed_number"] == "block"
    assert codes["unsupported_date"] == "block"
    assert codes["uncited_number"] == "warn"
    assert codes["altered_quote"] == "warn"
    assert all(
        set(f) == {"code", "severity", "message", "start", "end", "source_ids", "evidence"}
        for f in printed["findings"]
    )
