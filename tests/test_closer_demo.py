"""`make demo AGENT=closer` as CI runs it: non-interactively, from the repository, offline."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parent.parent
DEMO = [sys.executable, "-m", "prefect_review_gate.flows.closer.demo"]


def _env() -> dict[str, str]:
    """A user's shell: no key (so the demo is offline), no Slack, no Prefect API of the tests'."""
    drop = (
        "ANTHROPIC_",
        "SLACK_",
        "PREFECT_API_URL",
        "PREFECT_HOME",
        "PREFECT_LOCAL_STORAGE_PATH",
        "REVIEW_GATE_",
    )
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def test_make_demo_agent_closer_runs_closers_demo() -> None:
    dry = subprocess.run(["make", "-n", "demo", "AGENT=closer"], cwd=REPO, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "-m prefect_review_gate.flows.closer.demo" in dry.stdout


def test_the_demo_shows_the_fabrications_and_commits_on_approval_within_two_minutes(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [*DEMO, "--approve-as", "alice", "--override-reason", "seen", "--out", str(tmp_path)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

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
    assert re.search(r"Flow run: http://127\.0\.0\.1:\d+/runs/flow-run/[0-9a-f-]{36}", out)
    assert time.monotonic() - started < 120
