"""`review-gate validate` as a user runs it: a real process, real files, docs/architecture.md's contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "proposal"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefect_review_gate.gates.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def case(tmp_path: Path) -> Path:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "alpha.md").write_text(
        "Alpha handles 1,200 jobs a day.\nSee https://alpha.example.io/docs/.\n"
    )
    (sources / "beta.txt").write_text("Beta is \u201cbuilt for teams that ship daily\u201d.\n")
    return tmp_path


def write_draft(folder: Path, text: str) -> Path:
    draft = folder / "draft.md"
    draft.write_text(text, encoding="utf-8")
    return draft


def test_json_contract_and_exit_status_one_on_blocking(case: Path) -> None:
    draft_text = 'Alpha handles 1,300 jobs [alpha]. Beta is "built for everyone" [beta, gamma].\n'
    result = run("validate", write_draft(case, draft_text), "--sources", case / "sources", "--json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["blocking"] is True
    flagged = [(f["code"], draft_text[f["start"] : f["end"]]) for f in document["findings"]]
    assert flagged == [
        ("unsupported_number", "1,300"),
        ("unsupported_quote", "built for everyone"),
        ("unknown_source", "gamma"),
    ]
    for finding in document["findings"]:
        assert set(finding) == {"code", "severity", "message", "start", "end", "source_ids", "evidence"}
        assert finding["severity"] == "block"


def test_exit_zero_on_a_clean_draft(case: Path) -> None:
    draft = write_draft(case, "Alpha handles 1200 jobs [alpha]. Docs: https://alpha.example.io/docs\n")
    result = run("validate", draft, "--sources", case / "sources", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"findings": [], "blocking": False}


def test_offsets_count_characters_not_bytes(case: Path) -> None:
    draft_text = "Ünïcödé fïrst: Alpha handles 1,201 jobs [alpha].\r\nNext line.\n"
    draft = case / "draft.md"
    draft.write_bytes(draft_text.encode("utf-8"))  # CRLF on disk: offsets follow open().read()
    result = run("validate", draft, "--sources", case / "sources", "--json")
    [finding] = json.loads(result.stdout)["findings"]
    as_read = draft.open(encoding="utf-8").read()
    assert as_read[finding["start"] : finding["end"]] == "1,201"


def test_readable_report_shows_line_marked_text_and_evidence(case: Path) -> None:
    draft = write_draft(case, "# Title\n\nAlpha handles 1,300 jobs a day [alpha].\n")
    result = run("validate", draft, "--sources", case / "sources")
    assert result.returncode == 1
    out = result.stdout
    assert f"{draft}:3:15: unsupported_number" in out
    assert "    Alpha handles 1,300 jobs a day [alpha]." in out
    assert "\n" + " " * (4 + 14) + "^^^^^\n" in out
    assert "[alpha] says: Alpha handles 1,200 jobs a day." in out
    assert "1 blocking finding" in out
    assert "\033[" not in out  # no color when not a terminal


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing_sources", "does not exist"),
        ("empty_sources", "holds no source files"),
        ("binary_source", "is a binary file"),
        ("latin1_source", "is not UTF-8 text"),
        ("duplicate_id", "share the id"),
        ("draft_is_folder", "is a folder, not a file"),
        ("missing_draft", "does not exist"),
        ("latin1_draft", "is not UTF-8 text"),
        ("sources_is_file", "is a file, not a folder"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_two(tmp_path: Path, setup: str, message: str) -> None:
    sources = tmp_path / "sources"
    draft = write_draft(tmp_path, "Fine [a].\n")
    if setup != "missing_sources":
        sources.mkdir()
    if setup not in ("missing_sources", "empty_sources"):
        (sources / "a.md").write_text("A source.\n")
    if setup == "binary_source":
        (sources / "b.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    elif setup == "latin1_source":
        (sources / "b.txt").write_bytes("caf\u00e9".encode("latin-1"))
    elif setup == "duplicate_id":
        (sources / "a.txt").write_text("Another A.\n")
    elif setup == "draft_is_folder":
        draft = tmp_path / "folder"
        draft.mkdir()
    elif setup == "missing_draft":
        draft = tmp_path / "nope.md"
    elif setup == "latin1_draft":
        draft.write_bytes("r\u00e9sum\u00e9 [a]".encode("latin-1"))
    elif setup == "sources_is_file":
        sources = draft
    result = run("validate", draft, "--sources", sources, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_bad_usage_is_one_line_and_exit_two(tmp_path: Path) -> None:
    result = run("validate", write_draft(tmp_path, "x"))
    assert result.returncode == 2
    assert "--sources" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dot_files_and_subfolders_in_sources_are_ignored(case: Path) -> None:
    (case / "sources" / ".DS_Store").write_bytes(b"\x00\x01binary")
    (case / "sources" / "nested").mkdir()
    result = run("validate", write_draft(case, "Alpha [alpha].\n"), "--sources", case / "sources", "--json")
    assert result.returncode == 0, result.stderr


def test_bundled_example_finds_exactly_its_planted_fabrications() -> None:
    result = run("validate", EXAMPLE / "draft.md", "--sources", EXAMPLE / "sources", "--json")
    assert result.returncode == 1
    found = [
        (f["start"], f["end"]) for f in json.loads(result.stdout)["findings"] if f["severity"] == "block"
    ]
    labels = json.loads((EXAMPLE / "labels.json").read_text())["fabrications"]
    assert all(any(max(s, lab["start"]) < min(e, lab["end"]) for s, e in found) for lab in labels)
    assert all(any(max(s, lab["start"]) < min(e, lab["end"]) for lab in labels) for s, e in found)


def test_findings_are_the_same_whatever_the_hash_seed(tmp_path: Path) -> None:
    # Twelve words of one length around an invented figure: which of them lead to the evidence must
    # not depend on a set's order, which changes with PYTHONHASHSEED from process to process.
    words = ["apples", "banana", "cherry", "damson", "elders", "figgys"]
    words += ["grapes", "hazels", "ingots", "jujube", "kiwies", "lemons"]
    sources = tmp_path / "sources"
    sources.mkdir()
    lines = [f"The {word} line says {10 * (i + 1)} units." for i, word in enumerate(words)]
    (sources / "s.md").write_text("\n".join(lines) + "\n")
    draft = tmp_path / "draft.md"
    draft.write_text(f"The {' '.join(words)} total 99 units [s].\n")
    outputs = set()
    command = [sys.executable, "-m", "prefect_review_gate.gates.cli", "validate", str(draft)]
    for seed in ("0", "1", "2", "3", "4", "5"):
        result = subprocess.run(
            [*command, "--sources", str(sources), "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=False,
        )
        assert result.returncode == 1, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1, outputs
