"""The checkout: the repository cloned into a workspace of this flow run, as a persisted task.

Always a clone, whether the repository is a local path or a URL: the build writes `dist/` and
`reports/` into its workspace, and a person's working copy must not change under them. The clone
lives under `work_dir/render-<flow run id>`, so a run re-run after a suspend finds it again.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from prefect import task
from prefect.context import TaskRunContext

from prefect_review_gate.flows.common.run_cache import run_scoped_key
from prefect_review_gate.flows.render import AGENT
from prefect_review_gate.flows.render.facts import Checkout
from prefect_review_gate.flows.render.git import GitError, git
from prefect_review_gate.validators.errors import InputError

__all__ = ["CHANGELOG_NAMES", "check_out", "clone"]

CHANGELOG_NAMES = ("CHANGELOG.md", "CHANGES.md", "HISTORY.md", "CHANGELOG.rst", "CHANGELOG")
_CHANGELOG_LIMIT = 40_000  # characters: the agent needs the newest entries, not a decade of them


def clone(repository: str, branch: str, into: Path) -> Checkout:
    """Clone `branch` of `repository` into `into` (replaced if present) and read what the build needs.

    Raises:
        InputError: the repository or the branch cannot be cloned.
    """
    local = Path(repository).expanduser()
    source = str(local.resolve()) if local.exists() else repository
    if into.exists():
        shutil.rmtree(into)  # an earlier attempt died before its result was saved: start clean
    into.parent.mkdir(parents=True, exist_ok=True)
    try:
        git("clone", "--quiet", "--branch", branch, "--", source, str(into))
        commit = git("rev-parse", "HEAD", cwd=into)
        committed_at = int(git("log", "-1", "--format=%ct", cwd=into))
    except GitError as exc:
        raise InputError(f"cannot check out branch {branch!r} of {repository}: {exc.detail}") from None
    try:
        previous: str | None = git("describe", "--tags", "--abbrev=0", cwd=into)
    except GitError:
        previous = None  # no tag yet: a first release
    changelog = ""
    for name in CHANGELOG_NAMES:
        if (into / name).is_file():
            changelog = (into / name).read_text(encoding="utf-8", errors="replace")[:_CHANGELOG_LIMIT]
            break
    return Checkout(
        path=str(into),
        repository=source,
        branch=branch,
        commit=commit,
        committed_at=committed_at,
        previous_tag=previous,
        changelog=changelog,
    )


@task(name="check-out", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def check_out(repository: str, branch: str, work_dir: str) -> Checkout:
    """Clone `branch` of `repository` into this flow run's workspace under `work_dir`."""
    context = TaskRunContext.get()
    run_id = context.task_run.flow_run_id if context is not None else None
    into = Path(work_dir).expanduser().resolve() / f"render-{run_id or 'local'}"
    return await asyncio.to_thread(clone, repository, branch, into)
