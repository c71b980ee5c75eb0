"""Running an agent's demo as a user does: a new process from the repository, offline, timed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).parent.parent
# What a user's shell does not have: an Anthropic key (so the demo is offline), Slack, the tests'
# Prefect API and home, or this project's settings.
_NOT_A_USERS = (
    "ANTHROPIC_",
    "SLACK_",
    "PREFECT_API_URL",
    "PREFECT_HOME",
    "PREFECT_LOCAL_STORAGE_PATH",
    "REVIEW_GATE_",
)


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_demo(module: str, *args: str) -> DemoRun:
    """`python -m <module> ARGS` from the repository, in a user's environment, within 120 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_A_USERS)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    return DemoRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def make_dry_run(*args: str) -> str:
    """What `make -n demo ARGS` would run."""
    dry = subprocess.run(["make", "-n", "demo", *args], cwd=REPO, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    return dry.stdout
