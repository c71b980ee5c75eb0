"""The README's main command, as CI runs it: `make demo` non-interactively, from the repository."""

from __future__ import annotations

import re
from pathlib import Path

from demo_helpers import make_dry_run, run_demo

DEMO = "prefect_review_gate.flows.demo"


def test_make_demo_runs_the_demo_module() -> None:
    assert "-m prefect_review_gate.flows.demo --approve-as alice" in make_dry_run(
        "DEMO_ARGS=--approve-as alice"
    )


def test_the_demo_approves_as_a_named_reviewer_and_publishes_within_two_minutes(tmp_path: Path) -> None:
    result = run_demo(
        DEMO, "--approve-as", "alice", "--override-reason", "seen in CI", "--out", str(tmp_path)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"Prefect UI: http://127\.0\.0\.1:\d+", out)
    assert "Claude: offline" in out
    for code in ("unsupported_number", "unknown_source", "unsupported_quote", "unknown_url"):
        assert code in out
    [published] = re.findall(r"Published: (\S+)", out)
    assert Path(published).read_text(encoding="utf-8").startswith("# Reviewed Agent Workflows")
    assert [p.parent.parent for p in tmp_path.glob("*/*.md")] == [tmp_path]
    assert re.search(r"Flow run: http://127\.0\.0\.1:\d+/v2/runs/flow-run/[0-9a-f-]{36}", out)
    assert result.seconds < 120
    # The temporary server's folder (database, logs, results) is gone; what was published is not.
    [home] = re.findall(r"SQLite under (\S+) ", out)
    assert not Path(home).exists()


def test_the_demo_rejects_and_publishes_nothing(tmp_path: Path) -> None:
    result = run_demo(DEMO, "--reject-as", "bob", "--reason", "invented figures", "--out", str(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "The run ended Rejected" in result.stdout and "Nothing was published." in result.stdout
    assert list(tmp_path.rglob("*.md")) == []
