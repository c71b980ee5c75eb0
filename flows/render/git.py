"""Git for RENDER, run as a subprocess: one environment, one error, no prompts.

The checkout, the build's facts and the tag and push executors all go through `git()`, so a
failure reads the same everywhere: the command, and git's own last line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from prefect_review_gate.validators.errors import ReviewGateError

__all__ = ["GitError", "git", "git_ok"]

_TIMEOUT_SECONDS = 300
# An annotated tag needs a tagger. A worker often has no git identity; then RENDER signs as itself
# rather than failing after a person approved.
_FALLBACK_IDENTITY = {
    "GIT_COMMITTER_NAME": "RENDER (prefect-review-gate)",
    "GIT_COMMITTER_EMAIL": "render@localhost",
}


class GitError(ReviewGateError):
    """A git command failed; `command` and `detail` (git's own message) say which and why."""

    def __init__(self, command: str, detail: str) -> None:
        super().__init__(f"`{command}` failed: {detail}")
        self.command = command
        self.detail = detail


def _environment() -> dict[str, str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
    for name, value in _FALLBACK_IDENTITY.items():
        env.setdefault(name, value)
    return env


def git(
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = _TIMEOUT_SECONDS,
) -> str:
    """Run `git args...` (in `cwd`, `stdin` as its input, `env` over the environment); its output, stripped.

    Raises:
        GitError: git is missing, timed out or exited non-zero.
    """
    executable = shutil.which("git")
    command = " ".join(("git", *args))
    if executable is None:
        raise GitError(command, "git is not installed or not on the PATH")
    try:
        result = subprocess.run(
            [executable, *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**_environment(), **(env or {})},
        )
    except subprocess.TimeoutExpired:
        raise GitError(command, f"no answer within {timeout:.0f} s") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise GitError(command, lines[-1] if lines else f"exit status {result.returncode}")
    return result.stdout.strip()


def git_ok(*args: str, cwd: Path | None = None) -> bool:
    """True when `git args...` succeeds: for questions git answers with its exit status."""
    try:
        git(*args, cwd=cwd)
    except GitError:
        return False
    return True
