"""`make demo AGENT=closer` as CI runs it: non-interactively, from the repository, offline."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from demo_helpers import make_dry_run, run_demo

DEMO = "prefect_review_gate.flows.closer.demo"


def test_make_demo_agent_closer_runs_closers_demo() -> None:
    assert "-m prefect_review_gate.flows.closer.demo" in make_dry_run("AGENT=closer")


def test_the_demo_shows_the_fabrications_and_commits_on_approval_within_two_minutes(tmp_path: Path) -> None:
    result = run_demo(DEMO, "--approve-as", "alice", "--override-reason", "seen", "--out", str(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for code in ("unrequested_action", "unknown_recipient", "unsupported_number", "unknown_record"):
        assert code in out
    assert '"decisionmakerboughtin" → "contractsent"' in out
    assert "note on deal 1099: nothing written" in out
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(list((run_dir / "mail").glob("*.eml"))) == 2
    with sqlite3.connect(run_dir / "crm.sqlite") as db:
        assert db.execute("SELECT stage FROM deals WHERE id = '1001'").fetchone() == ("contractsent",)
    assert re.search(r"Flow run: http://127\.0\.0\.1:\d+/v2/runs/flow-run/[0-9a-f-]{36}", out)
    assert result.seconds < 120
