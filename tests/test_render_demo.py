"""`make demo AGENT=render` as CI runs it: non-interactively, offline, from the repository."""

from __future__ import annotations

import re
from pathlib import Path

from demo_helpers import make_dry_run, run_demo

DEMO = "prefect_review_gate.flows.render.demo"


def test_make_demo_agent_render_runs_the_render_demo() -> None:
    dry = make_dry_run("AGENT=render", "DEMO_ARGS=--approve-as alice")
    assert "-m prefect_review_gate.flows.render.demo --approve-as alice" in dry


def test_the_demo_shows_the_fabrications_then_releases_once_within_two_minutes(tmp_path: Path) -> None:
    result = run_demo(DEMO, "--approve-as", "alice", "--override-reason", "seen", "--out", str(tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Claude: offline" in out
    for code in ("unrequested_action", "digest_mismatch", "test_count_mismatch"):
        assert code in out
    assert "tests: 6 passed, 0 failed, 1 skipped" in out
    [wheel] = re.findall(r"Released: (\S+\.whl)", out)
    assert Path(wheel).parent.parent.name == "simple"
    assert re.search(r"Released: tag v0\.2\.0 on [0-9a-f]{12} in ", out)
    assert re.search(r"Released: pushed refs/heads/main refs/tags/v0\.2\.0 to \S+origin\.git", out)
    assert re.search(r"Flow run: http://127\.0\.0\.1:\d+/v2/runs/flow-run/[0-9a-f-]{36}", out)
    assert result.seconds < 120
