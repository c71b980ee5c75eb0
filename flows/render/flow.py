"""RENDER: a real build; Claude writes the release notes and proposes the release; a person decides.

    checkout -> build (sdist, wheel, digests) -> tests (JUnit) -> Claude (one tool call)
      -> validators (workspace, git, JUnit, the build's facts) -> review gate -> tag, publish, push

- A build that fails, or tests that do not pass, end the run `Blocked` with the failure: Claude is
  not asked and nobody is asked to approve a release of it.
- The agent may answer `report_blocker`: the run ends `Blocked`, nothing is asked.
- A reply that cannot be used fails the run before any review.
- The checkout, the build, the tests, Claude's call and the checks are tasks with persisted,
  run-scoped results: after a suspend the flow body re-runs from the top and builds nothing again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import acreate_markdown_artifact

from prefect_review_gate.flows.common.blocked import stop_blocked, stop_refused, stop_unmet_precondition
from prefect_review_gate.flows.common.boundaries import Blocker
from prefect_review_gate.flows.common.claude_task import claude_task
from prefect_review_gate.flows.common.errors import ModelRefused
from prefect_review_gate.flows.common.review import review_and_commit, review_policy
from prefect_review_gate.flows.common.run_cache import run_scoped_key
from prefect_review_gate.flows.render import AGENT, REQUESTER
from prefect_review_gate.flows.render.agent import ReleaseAnswer, build_request, read_reply
from prefect_review_gate.flows.render.build import build_artifacts, run_tests
from prefect_review_gate.flows.render.checks import check_release
from prefect_review_gate.flows.render.executors import agent_executors
from prefect_review_gate.flows.render.facts import BuildFacts
from prefect_review_gate.flows.render.proposal import Destinations, Proposal, release_proposal
from prefect_review_gate.flows.render.workspace import check_out
from prefect_review_gate.gates import Action
from prefect_review_gate.validators.errors import InputError
from prefect_review_gate.validators.findings import Finding

__all__ = ["REQUESTER", "release_flow"]

ask_claude = claude_task(AGENT, description="Tokens and cost of the release agent's call")


@task(name="check-release", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def check_proposal(document: dict[str, Any], facts: BuildFacts) -> list[dict[str, Any]]:
    """The findings on the proposal, once per run: a re-run reviews what was checked, not a later tree."""
    return [f.model_dump(mode="json") for f in check_release(document, facts)]


@task(name="record-release", persist_result=True, cache_key_fn=run_scoped_key(AGENT))
async def record_release(
    facts: BuildFacts, notes: str, claims: list[dict[str, Any]], findings: list[dict[str, Any]]
) -> None:
    """The build's facts, the release notes, the agent's claims and the findings, on the run."""
    tests = facts.tests
    lines = [
        f"# Release {facts.build.project} {facts.build.version}",
        "",
        f"- commit `{facts.checkout.commit}` on `{facts.checkout.branch}` of `{facts.checkout.repository}`",
        f"- tests: {tests.counts() if tests else 'not run'} (`{tests.report if tests else '-'}`)",
        "",
        "| artifact | sha256 | bytes |",
        "|---|---|---|",
        *(f"| `{a.path}` | `{a.sha256}` | {a.size} |" for a in facts.build.artifacts),
        "",
        "## Findings",
        "",
    ]
    if not findings:
        lines.append("None: every digest, count, commit and tag checked matches the workspace.")
    for raw in findings:
        finding = Finding.model_validate(raw)
        lines.append(
            f"- **{finding.severity.value}** `{finding.code}` at `{finding.pointer}`: {finding.message}"
        )
    lines += ["", "## The agent's claims", "", *(f"- `{claim}`" for claim in claims), ""]
    lines += ["## Release notes", "", notes]
    await acreate_markdown_artifact(
        markdown="\n".join(lines), key=f"{AGENT}-release", description="The release under review"
    )


async def _proposal(
    answer: ReleaseAnswer, facts: BuildFacts, to: Destinations
) -> tuple[Proposal, list[Finding]]:
    proposal = release_proposal(answer, facts, to)
    checked = await check_proposal(proposal.document, facts)
    findings = proposal.for_review([Finding.model_validate(f) for f in checked])
    await record_release(
        facts, answer.release_notes, list(answer.claims), [f.model_dump(mode="json") for f in findings]
    )
    return proposal, findings


@flow(name="render-release")
async def release_flow(
    repository: str,
    reviewers: list[str],
    branch: str = "main",
    remote: str | None = None,
    release_index: str = "releases/simple",
    work_dir: str = "render-workspaces",
    approvals_required: int = 1,
    timeout_hours: float = 24.0,
    on_blocking: Literal["require_override", "reject"] = "require_override",
    isolated_build: bool = False,
) -> Any:
    """Build `branch` of `repository`, test it, have Claude propose the release, ask `reviewers`, release.

    Args:
        repository: the git repository to release (a local path or a URL); it is cloned.
        reviewers: who may approve (names as the CLI and UI use them, or Slack ids).
        branch: the branch built, tagged and pushed.
        remote: where `git.push` goes; by default the repository itself.
        release_index: the folder of the PEP 503 simple index artifacts are published into.
        work_dir: where each run's workspace (the clone, dist/, reports/) is kept.
        approvals_required, timeout_hours, on_blocking: the review policy.
        isolated_build: let `python -m build` install the build backend in an isolated environment
            (needs the package index); by default the backend installed beside the worker is used.
    """
    if not repository.strip() or not branch.strip():
        raise InputError("the release flow needs a repository and a branch")
    policy = review_policy(reviewers, approvals_required, timeout_hours, on_blocking)
    local = Path(repository).expanduser()
    to = Destinations(
        release_index=str(Path(release_index).expanduser().resolve()),
        remote=remote or (str(local.resolve()) if local.exists() else repository),
    )
    checkout = await check_out(repository, branch, work_dir)
    build = await build_artifacts(checkout.path, checkout.committed_at, isolated_build)
    tests = await run_tests(checkout.path) if build.ok else None
    facts = BuildFacts(checkout=checkout, build=build, tests=tests)
    failure = facts.failure()
    if failure is not None:
        return await stop_unmet_precondition(
            failure, artifact_key=f"{AGENT}-blocker", description="Why nothing was proposed for release"
        )
    message = await ask_claude(build_request(facts))
    try:
        answer = read_reply(message)
    except ModelRefused as refused:
        return await stop_refused(
            refused, artifact_key=f"{AGENT}-blocker", description="Why the model proposed no release"
        )
    if isinstance(answer, Blocker):
        return await stop_blocked(
            answer, artifact_key=f"{AGENT}-blocker", description="Why the release agent proposed no release"
        )
    proposal, findings = await _proposal(answer, facts, to)

    def revalidate(actions: Sequence[Action]) -> list[Finding]:
        """A reviewer's edit is checked again, with the same claims, against the same build."""
        document = {**proposal.document, "actions": [a.model_dump(mode="json") for a in actions]}
        return check_release(document, facts)

    return await review_and_commit(
        list(proposal.actions),
        policy=policy,
        findings=findings,
        requester=REQUESTER,
        executors=agent_executors(checkout.path),
        revalidate=revalidate,
    )
