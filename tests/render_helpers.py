"""RENDER's test material: the example project as real git repositories, the recorded reply (as
shipped, with its planted fabrications, or a clean variant), and a push counter on the remote."""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.render.demo import example_repositories
from prefect_review_gate.flows.render.git import git

__all__ = [
    "EXAMPLE",
    "add_failing_test",
    "clean_recording",
    "count_pushes",
    "pushes",
    "recording",
    "repositories",
]

EXAMPLE = Path(__file__).parent.parent / "examples" / "render"


def recording() -> dict[str, Any]:
    """The shipped recorded reply: placeholders for the build's values, three planted fabrications."""
    data: dict[str, Any] = json.loads((EXAMPLE / "recorded_response.json").read_text(encoding="utf-8"))
    return data


def clean_recording() -> dict[str, Any]:
    """The same reply with nothing fabricated: only requested actions, true counts and digests."""
    reply = copy.deepcopy(recording())
    release = reply["content"][0]["input"]
    release["actions"] = [a for a in release["actions"] if a["kind"] != "git.create_repository"]
    release["claims"][1]["sha256"] = "{{artifacts.1.sha256}}"
    release["claims"][2]["passed"] = "{{tests.passed}}"
    release["release_notes"] = release["release_notes"].replace("all 9 tests pass", "its tests pass")
    return reply


def repositories(into: Path) -> tuple[Path, Path]:
    """(repository, bare remote) of the example project, with a push counter on the remote."""
    repository, remote = example_repositories(EXAMPLE / "project", into)
    count_pushes(remote)
    return repository, remote


def count_pushes(remote: Path) -> None:
    """A post-receive hook: one line in `pushes.log` per push the remote accepts."""
    hook = remote / "hooks" / "post-receive"
    hook.write_text(f'#!/bin/sh\ncat > /dev/null\necho push >> "{remote / "pushes.log"}"\n', encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def pushes(remote: Path) -> int:
    log = remote / "pushes.log"
    return len(log.read_text(encoding="utf-8").splitlines()) if log.exists() else 0


def add_failing_test(repository: Path) -> None:
    """Commit a test that fails on `main`: the suite no longer passes."""
    (repository / "tests" / "test_regression.py").write_text(
        "from tinyunits import parse_size\n\n\ndef test_kilobytes_are_decimal() -> None:\n"
        "    assert parse_size('1 kB') == 1024\n",
        encoding="utf-8",
    )
    git("add", "--all", cwd=repository)
    env = {"GIT_AUTHOR_NAME": "Ana", "GIT_AUTHOR_EMAIL": "ana@tinyunits.example"}
    git("-c", "commit.gpgsign=false", "commit", "--quiet", "-m", "a regression test", cwd=repository, env=env)
