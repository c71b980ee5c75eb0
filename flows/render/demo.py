"""RENDER's demo (`make demo AGENT=render`): a real build and release, offline without an API key.

    python -m prefect_review_gate.flows.render.demo [--approve-as NAME --override-reason TEXT]

1. copies the example project (`examples/render/project`, a tiny package with its tests) into a
   temporary git repository with two commits (0.1.0, tagged, and 0.2.0) and a bare remote that
   still holds 0.1.0;
2. runs the release flow on it: checkout, `python -m build`, pytest with a JUnit report, digests;
3. Claude proposes the release. Offline, the Messages API fake replays
   `examples/render/recorded_response.json`, whose build-specific values (`{{commit}}`,
   `{{artifacts.0.sha256}}`, ...) are bound to the facts in the request, since a wheel's digest
   depends on the build tools at hand; its planted fabrications (an unrequested
   `git.create_repository`, a test count the JUnit report contradicts, a wrong digest) are literal;
4. prints the actions and the findings, waits for a decision (terminal, UI, CLI, Slack, or flags);
5. on approval tags, publishes into a PEP 503 index under `--out` and pushes to the bare remote.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect_review_gate.flows.common.demo_kit import AgentDemo, DemoContext, run_demo, say, say_proposal
from prefect_review_gate.flows.common.offline_model import Answer, RecordedRequest, Reply, load_recorded
from prefect_review_gate.flows.render import REQUESTER
from prefect_review_gate.flows.render.agent import FACTS_TAG
from prefect_review_gate.flows.render.git import git

__all__ = ["RENDER_DEMO", "bind_recording", "example_repositories", "main", "replay_for_build"]

REVIEWERS = ["alice", "bob"]
_PLACEHOLDER = re.compile(r"\{\{([A-Za-z0-9_.]+)\}\}")
_FACTS = re.compile(rf"<{FACTS_TAG}>\s*(.*?)\s*</{FACTS_TAG}>", re.DOTALL)
# Fixed authors and dates: the example's commits have the same ids on every machine.
_AUTHOR = {
    "GIT_AUTHOR_NAME": "Ana Example",
    "GIT_AUTHOR_EMAIL": "ana@tinyunits.example",
    "GIT_COMMITTER_NAME": "Ana Example",
    "GIT_COMMITTER_EMAIL": "ana@tinyunits.example",
}
_SKIP = shutil.ignore_patterns("dist", "build", "reports", "*.egg-info", "__pycache__", ".pytest_cache")


def _commit_all(repository: Path, message: str, date: str) -> None:
    at = {**_AUTHOR, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    git("add", "--all", cwd=repository)
    git("-c", "commit.gpgsign=false", "commit", "--quiet", "-m", message, cwd=repository, env=at)


def example_repositories(project: Path, into: Path) -> tuple[Path, Path]:
    """The example project as a git repository with a release history, and a bare remote behind it.

    `<into>/tinyunits`: commit 0.1.0 (tagged `v0.1.0`), then 0.2.0 on `main`; `<into>/origin.git`:
    a bare clone whose `main` is still at 0.1.0, so a release pushes the branch and its tag.
    Returns (repository, remote).
    """
    repository, remote = into / "tinyunits", into / "origin.git"
    shutil.copytree(project, repository, ignore=_SKIP)
    pyproject, changelog = repository / "pyproject.toml", repository / "CHANGELOG.md"
    final = {path: path.read_text(encoding="utf-8") for path in (pyproject, changelog)}
    # The 0.1.0 commit: the same files, with the version and changelog as they were then.
    pyproject.write_text(final[pyproject].replace('version = "0.2.0"', 'version = "0.1.0"'), encoding="utf-8")
    head, _, older = final[changelog].partition("## 0.2.0")
    changelog.write_text(head + "## 0.1.0" + older.partition("## 0.1.0")[2], encoding="utf-8")
    git("init", "--quiet", "--initial-branch=main", str(repository))
    _commit_all(repository, "tinyunits 0.1.0", "2026-04-01T09:00:00+00:00")
    at = {**_AUTHOR, "GIT_COMMITTER_DATE": "2026-04-01T09:05:00+00:00"}
    git("tag", "--annotate", "-m", "tinyunits 0.1.0", "v0.1.0", cwd=repository, env=at)
    for path, text in final.items():
        path.write_text(text, encoding="utf-8")
    _commit_all(
        repository, "tinyunits 0.2.0: parse_duration; binary prefixes fixed", "2026-05-04T09:00:00+00:00"
    )
    git("clone", "--quiet", "--bare", str(repository), str(remote))
    git("update-ref", "refs/heads/main", "v0.1.0^{commit}", cwd=remote)
    return repository, remote


def _lookup(facts: Any, path: str) -> Any:
    value = facts
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise KeyError(f"the request's build facts have no {path!r}")
    return value


def bind_recording(recording: Any, facts: Mapping[str, Any]) -> Any:
    """`recording` with each `{{path}}` replaced by that value of `facts`; a string that is exactly one
    placeholder takes the value's type (a size stays a number)."""
    if isinstance(recording, dict):
        return {key: bind_recording(value, facts) for key, value in recording.items()}
    if isinstance(recording, list):
        return [bind_recording(value, facts) for value in recording]
    if isinstance(recording, str):
        whole = _PLACEHOLDER.fullmatch(recording)
        if whole:
            return _lookup(facts, whole.group(1))
        return _PLACEHOLDER.sub(lambda m: str(_lookup(facts, m.group(1))), recording)
    return recording


def replay_for_build(recording: Mapping[str, Any]) -> Answer:
    """A Messages API answer replaying `recording`, bound to the build facts of the request it answers."""

    def respond(request: RecordedRequest) -> Reply:
        found = _FACTS.search(request.body["messages"][0]["content"][0]["text"])
        if found is None:
            raise ValueError(f"the request holds no <{FACTS_TAG}> to bind the recording to")
        return Reply.message(bind_recording(recording, json.loads(found.group(1))))

    return respond


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example", type=Path, default=Path("examples/render"), help="folder with project/ and "
        "recorded_response.json (default: the repository's examples/render)",
    )  # fmt: skip


def _check(args: argparse.Namespace) -> str:
    example: Path = args.example.resolve()
    for needed in ("project", "recorded_response.json"):
        if not (example / needed).exists():
            return f"{example / needed} is missing: run from the repository's root or pass --example DIR"
    return ""


def _replies(args: argparse.Namespace) -> Sequence[Answer]:
    return [replay_for_build(load_recorded(args.example.resolve() / "recorded_response.json"))]


async def _start(context: DemoContext) -> Any:
    from prefect_review_gate.flows.render.flow import release_flow

    repositories = context.out / "repositories"
    repository, remote = example_repositories(context.args.example.resolve() / "project", repositories)
    say(f"Example repository: {repository} (remote {remote})")
    return await release_flow(
        repository=str(repository),
        remote=str(remote),
        reviewers=REVIEWERS,
        release_index=str(context.out / "simple"),
        work_dir=str(context.out / "workspaces"),
        return_state=True,
    )


def _describe(pending: Any) -> None:
    say_proposal(
        pending,
        "The agent proposes (what the reviewer approves):",
        "The validators' findings (pointers into the actions, the agent's claims or its whole proposal):",
        "release",
    )


RENDER_DEMO = AgentDemo(
    name="RENDER",
    requester=REQUESTER,
    reviewers=REVIEWERS,
    replies=_replies,
    start=_start,
    describe=_describe,
    check=_check,
    add_arguments=_add_arguments,
    what_commits="Released",
    default_override_reason="demo: approved knowingly, to show the release step",
)


def main(argv: Sequence[str] | None = None) -> int:
    return run_demo(RENDER_DEMO, argv, prog="python -m prefect_review_gate.flows.render.demo")


if __name__ == "__main__":
    sys.exit(main())
