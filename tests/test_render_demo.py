"""`make demo AGENT=render` as CI runs it: non-interactively, offline, from the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parent.parent
DEMO = [sys.executable, "-m", "prefect_review_gate.flows.render.demo"]


def _env() -> dict[str, str]:
    """A user's shell: no key (so the demo is offline), no Slack, no Prefect API of the tests'."""
    drop = ("ANTHROPIC_", "SLACK_", "PREFECT_API_URL", "PREFECT_HOME", "PREFECT_LOCAL_STORAGE_PATH")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def test_make_demo_agent_render_runs_the_render_demo() -> None:
    dry = subprocess.run(
        ["make", "-n", "demo", "AGENT=render", "DEMO_ARGS=--approve-as alice"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr
    assert "-m prefect_review_gate.flows.render.demo --approve-as alice" in dry.stdout


def test_the_demo_shows_the_fabrications_then_releases_once_within_two_minutes(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [*DEMO, "--approve-as", "alice", "--override-reason", "seen", "--out", str(tmp_path)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started

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
    assert re.search(r"Flow run: http://127\.0\.0\.1:\d+/runs/flow-run/[0-9a-f-]{36}", out)
    assert elapsed < 120
