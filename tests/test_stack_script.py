"""`scripts/stack.sh`: up is idempotent, down stops what up started and leaves no folder behind,
and a missing binary is one clear line, with nothing left running."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from stack_helpers import REQUIRE_STACK, stack

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "stack.py"


def _stack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


def _pg_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("review-gate-stack-pg-*")}


def _settings(output: str) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in output.splitlines())
    return {key: value for key, value in pairs}


def test_a_missing_postgresql_is_one_clear_line_and_leaves_nothing_behind(tmp_path: Path) -> None:
    before = _pg_folders()
    state = tmp_path / "state"

    result = _stack("up", "--dir", str(state), env={"REVIEW_GATE_STACK_PG_BIN": str(tmp_path)})

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"stack up: PostgreSQL's `initdb` is not in REVIEW_GATE_STACK_PG_BIN={tmp_path}"
    ]
    assert not state.exists() and _pg_folders() == before


def test_env_before_up_says_to_run_up(tmp_path: Path) -> None:
    result = _stack("env", "--dir", str(tmp_path / "state"))
    assert result.returncode == 2 and "run `scripts/stack.sh up`" in result.stderr
    assert _stack("down", "--dir", str(tmp_path / "state")).stderr.strip() == "stack: nothing to stop"


def test_up_twice_is_one_stack_and_down_removes_everything(tmp_path: Path) -> None:
    try:
        stack.pg_binary("initdb")
    except stack.StackError as exc:
        if os.environ.get(REQUIRE_STACK) == "1":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))
    state = tmp_path / "state"
    before = _pg_folders()

    first = _stack("up", "--dir", str(state))
    try:
        assert first.returncode == 0, first.stderr
        second = _stack("up", "--dir", str(state))
        assert second.returncode == 0 and second.stderr.strip() == "stack: already up"
        assert second.stdout == first.stdout  # the same servers, not a second set
        settings = _settings(first.stdout)
        assert settings["PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK"] == "s3-bucket/review-gate-results"
        assert _stack("env", "--dir", str(state)).stdout == first.stdout
        server = _settings(_stack("env", "--server", "--dir", str(state)).stdout)
        assert server["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://review_gate:")
        postgres, store, prefect = stack.Stack(state).components()
        assert postgres is not None and store is not None and prefect is not None
        pids = [postgres.pid, store.pid, prefect.state.pid]
        assert _stack("status", "--dir", str(state)).returncode == 0
    finally:
        down = _stack("down", "--dir", str(state))

    assert down.returncode == 0
    assert down.stderr.strip() == "stack: stopped prefect server, s3 (moto), postgresql"
    assert not state.exists() and _pg_folders() == before
    assert not [pid for pid in pids if stack._alive(pid)]
