"""The README's main command, as CI runs it: `make demo` non-interactively, from the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).parent.parent
DEMO = [sys.executable, "-m", "prefect_review_gate.flows.demo"]


def _env() -> dict[str, str]:
    """A user's shell: no key (so the demo is offline), no Slack, no Prefect API of the tests'."""
    drop = ("ANTHROPIC_", "SLACK_", "PREFECT_API_URL", "PREFECT_HOME", "PREFECT_LOCAL_STORAGE_PATH")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def test_make_demo_runs_the_demo_module() -> None:
    dry = subprocess.run(
        ["make", "-n", "demo", "DEMO_ARGS=--approve-as alice"], cwd=REPO, capture_output=True, text=True
    )
    assert dry.returncode == 0, dry.stderr
    assert "-m prefect_review_gate.flows.demo --approve-as alice" in dry.stdout


def test_the_demo_approves_as_a_named_reviewer_and_publishes_within_two_minutes(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [*DEMO, "--approve-as", "alice", "--override-reason", "seen in CI", "--out", str(tmp_path)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"Prefect UI: http://127\.0\.0\.1:\d+", out)
    assert "Claude: offline" in out
    for code in ("unsupported_number", "unknown_source", "unsupported_quote", "unknown_url"):
        assert code in out
    [published] = re.findall(r"Published: (\S+)", out)
    assert Path(published).read_text(encoding="utf-8").startswith("# Reviewed Agent Workflows")
    assert [p.parent.parent for p in tmp_path.glob("*/*.md")] == [tmp_path]
    assert re.search(r"Flow run: http://127\.0\.0\.1:\d+/runs/flow-run/[0-9a-f-]{36}", out)
    assert elapsed < 120


def test_the_demo_rejects_and_publishes_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [*DEMO, "--reject-as", "bob", "--reason", "invented figures", "--out", str(tmp_path)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "The run ended Rejected" in result.stdout and "Nothing was published." in result.stdout
    assert list(tmp_path.rglob("*.md")) == []
