"""RENDER: a real build in a workspace; Claude writes the release notes and proposes the release; a
person approves; the release is tagged, published and pushed exactly once.

- `git`: git as a subprocess, with one environment and one error (`GitError`).
- `workspace`: the checkout (a clone of a local or remote repository) as a persisted Prefect task.
- `build`: the build (`python -m build`), the tests (pytest with a JUnit report) and the sha256 of
  every artifact, as persisted Prefect tasks; `BuildFacts` is what the agent and the checks get.
- `agent`: the system prompt (the shared boundary rules, worded for releases), the request with
  the build's facts and the changelog, and the reading of Claude's reply (`propose_release` or
  `report_blocker`).
- `actions`: RENDER's action kinds (`git.tag`, and the generic `release.publish` and `git.push`).
- `checks`: the proposal checked against the workspace (`validate_proposal`) and the build's facts.
- `release_index`: the PEP 503 simple index a release is published into.
- `executors`: what an approved action runs: tag, publish (copy once), push.
- `flow`: the Prefect flow, `release_flow`, deployed as `render-release/render-nightly`.
- `demo`: `make demo AGENT=render`, offline by default.
"""

from __future__ import annotations

__all__ = ["AGENT", "REQUESTER"]

AGENT = "render"
REQUESTER = f"agent:{AGENT}"  # who RENDER's reviews are requested by; also a Prefect tag on its runs
