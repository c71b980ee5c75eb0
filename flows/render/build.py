"""The build and the tests, as persisted tasks: a re-run after a suspend builds and tests nothing again.

- `build_artifacts`: `python -m build` (sdist and wheel, PEP 517) into `dist/`, with
  SOURCE_DATE_EPOCH set to the commit's time so the wheel is reproducible; the sha256 and size of
  every file in `dist/`.
- `run_tests`: pytest with a JUnit report in `reports/junit.xml`, counted from its testcases (the
  same reading the validators use, so the facts and the checks cannot disagree).

A failure is a result, not an exception: the flow ends `Blocked` with it before anyone is asked.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from prefect import task

from prefect_review_gate.flows.common.run_cache import run_scoped_key
from prefect_review_gate.flows.render import AGENT
from prefect_review_gate.flows.render.facts import Artifact, BuildResult, TestRun
from prefect_review_gate.validators.workspace import Workspace, file_sha256

__all__ = ["REPORT", "build_artifacts", "build_workspace", "run_suite", "run_tests"]

REPORT = "reports/junit.xml"
_LOG_LINES = 30
# pytest's own settings from the calling environment would change how the project's suite runs.
_FOREIGN_PYTEST = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER")


def _tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-_LOG_LINES:])


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return -1, f"`{' '.join(command[1:])}` was stopped after {timeout:.0f} s"
    return done.returncode, _tail(done.stdout + "\n" + done.stderr)


def _name_and_version(artifacts: tuple[Artifact, ...]) -> tuple[str, str]:
    """From the wheel's file name (`name-version-tags.whl`), else the sdist's (`name-version.tar.gz`)."""
    for artifact in artifacts:
        name = Path(artifact.path).name
        if name.endswith(".whl"):
            project, version = name.split("-")[:2]
            return project, version
    for artifact in artifacts:
        match = re.fullmatch(r"(?P<project>.+)-(?P<version>[^-]+)\.tar\.gz", Path(artifact.path).name)
        if match:
            return match["project"], match["version"]
    return "", ""


def build_workspace(workspace: Path, committed_at: int, *, isolated: bool, timeout: float) -> BuildResult:
    dist = workspace / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "build",
        "--outdir",
        "dist",
        *([] if isolated else ["--no-isolation"]),
        ".",
    ]
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(committed_at)}
    code, log = _run(command, workspace, env, timeout)
    files = sorted(p for p in dist.iterdir() if p.is_file()) if dist.is_dir() else []
    artifacts = tuple(
        Artifact(path=str(p.relative_to(workspace)), sha256=file_sha256(p), size=p.stat().st_size)
        for p in files
    )
    project, version = _name_and_version(artifacts)
    if code == 0 and not artifacts:
        log = f"{log}\nThe build exited 0 but wrote nothing to dist/."
    return BuildResult(
        ok=code == 0 and bool(artifacts), artifacts=artifacts, project=project, version=version, log=log
    )


def run_suite(workspace: Path, *, timeout: float) -> TestRun:
    report = workspace / REPORT
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={REPORT}"]
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_PYTEST}
    code, log = _run(command, workspace, env, timeout)
    counts = Workspace.test_counts(report) if report.is_file() else None
    if counts is None:
        return TestRun(ok=False, report=REPORT, exit_code=code, log=f"{log}\nNo JUnit report was written.")
    # Exit status 5 is "no tests collected": a suite that ran nothing proves nothing.
    ok = code == 0 and counts.failed == 0 and counts.passed > 0
    return TestRun(
        ok=ok,
        report=REPORT,
        passed=counts.passed,
        failed=counts.failed,
        skipped=counts.skipped,
        exit_code=code,
        log=log,
    )


@task(name="build-artifacts", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def build_artifacts(
    workspace: str, committed_at: int, isolated: bool = False, timeout_seconds: float = 900
) -> BuildResult:
    """Build the sdist and the wheel in `workspace`; digests of every artifact."""
    return await asyncio.to_thread(
        build_workspace, Path(workspace), committed_at, isolated=isolated, timeout=timeout_seconds
    )


@task(name="run-tests", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def run_tests(workspace: str, timeout_seconds: float = 1800) -> TestRun:
    """Run the project's tests in `workspace` with a JUnit report; counts from the report."""
    return await asyncio.to_thread(run_suite, Path(workspace), timeout=timeout_seconds)
