"""RENDER end to end in-process: real git repositories, a real build and test run, the official SDK
against the Messages fake, a real Prefect API. The gate pauses the run in-process; tests decide from
outside, and re-run a finished flow run the way a worker re-runs one after a suspend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anthropic_fake import OFFLINE_KEY, MessagesFake, Reply, refusal_reply
from gate_helpers import review_of_run
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.flow_engine import run_flow_async
from prefect.states import Scheduled
from render_helpers import add_failing_test, clean_recording, pushes, recording, repositories
from slack_fake import SlackFake
from slack_helpers import slack_env

from prefect_review_gate.flows.render.demo import replay_for_build
from prefect_review_gate.flows.render.flow import REQUESTER, release_flow
from prefect_review_gate.flows.render.git import git
from prefect_review_gate.gates import Outcome
from prefect_review_gate.gates.reviews import PendingReview, decide

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("prefect_api")]

REVIEWERS = ["alice", "bob"]
WAIT = 120.0


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesFake]:
    """The Messages fake replaying the clean recording, bound to each request's build facts."""
    with MessagesFake(replay_for_build(clean_recording())) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", OFFLINE_KEY)
        yield server


class Release:
    def __init__(self, tmp_path: Path) -> None:
        self.repository, self.remote = repositories(tmp_path / "repos")
        self.index = tmp_path / "simple"
        self.work = tmp_path / "workspaces"

    def start(self) -> asyncio.Task[Any]:
        return asyncio.create_task(release_flow(**self.parameters(), return_state=True))

    def parameters(self) -> dict[str, Any]:
        return {
            "repository": str(self.repository),
            "remote": str(self.remote),
            "reviewers": REVIEWERS,
            "release_index": str(self.index),
            "work_dir": str(self.work),
        }


async def _waiting_review(run: asyncio.Task[Any]) -> PendingReview:
    return await review_of_run(run, lambda p: p.record.request.requester == REQUESTER, "RENDER review", WAIT)


async def _flow_run(state: Any) -> FlowRun:
    async with get_client() as client:
        return await client.read_flow_run(state.state_details.flow_run_id)


async def _rerun(state: Any) -> Any:
    """Run the same flow run again from the top, as a worker does after a suspend."""
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)
        await client.set_flow_run_state(run.id, Scheduled(), force=True)
        run = await client.read_flow_run(run.id)
    return await run_flow_async(release_flow, flow_run=run, parameters=run.parameters, return_type="state")


async def _task_states(run_id: Any, name: str) -> list[str]:
    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    return sorted(str(r.state.name) for r in runs if r.name.startswith(name) and r.state is not None)


async def _artifact_keys(run_id: Any) -> set[str]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return {a.key for a in artifacts if a.key}


async def test_an_approved_release_commits_once_and_a_rerun_builds_and_commits_nothing_again(
    fake: MessagesFake, tmp_path: Path
) -> None:
    release = Release(tmp_path)
    run = release.start()
    pending = await _waiting_review(run)
    request = pending.record.request
    assert request.findings == []
    assert [a["kind"] for a in request.actions] == ["git.tag", "release.publish", "git.push"]
    assert not release.index.exists() and pushes(release.remote) == 0  # nothing before the decision

    await decide(request.id, Outcome.APPROVED, "alice")
    state = await asyncio.wait_for(run, WAIT)

    assert state.is_completed(), state
    [workspace] = release.work.iterdir()
    commit = git("rev-parse", "main", cwd=release.repository)
    assert git("rev-parse", "v0.2.0^{commit}", cwd=workspace) == commit
    assert git("rev-parse", "main", "v0.2.0^{commit}", cwd=release.remote).split() == [commit, commit]
    assert pushes(release.remote) == 1
    [wheel] = (release.index / "tinyunits").glob("*.whl")
    published = wheel.stat()
    built = (workspace / "dist" / wheel.name).stat()
    run_record = await _flow_run(state)
    assert {"render-claude-usage", "render-release"} <= await _artifact_keys(run_record.id)

    again = await _rerun(state)

    assert again.is_completed(), again
    report = await again.aresult()
    assert [o["replayed"] for o in report["outcomes"]] == [True, True, True]  # the ledger's, not run again
    assert pushes(release.remote) == 1
    assert (wheel.stat().st_ino, wheel.stat().st_mtime_ns) == (published.st_ino, published.st_mtime_ns)
    assert git("tag", "--list", cwd=workspace).split() == ["v0.1.0", "v0.2.0"]
    # Built, tested and asked once: the re-run got each from its persisted result.
    assert (workspace / "dist" / wheel.name).stat().st_mtime_ns == built.st_mtime_ns
    assert await _task_states(run_record.id, "build-artifacts") == ["Cached", "Completed"]
    assert await _task_states(run_record.id, "run-tests") == ["Cached", "Completed"]
    assert len(fake.message_requests()) == 1


async def test_fabrications_are_shown_to_the_reviewer_and_a_rejection_commits_nothing(
    fake: MessagesFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.script.append(replay_for_build(recording()))
    release = Release(tmp_path)
    with SlackFake() as slack:
        for name, value in {**slack_env(slack), "REVIEW_GATE_SLACK_CHANNEL": "CRELEASES"}.items():
            monkeypatch.setenv(name, value)
        run = release.start()
        request = (await _waiting_review(run)).record.request

        shown = {(f.code, f.pointer) for f in request.blocking}
        assert shown == {
            ("unrequested_action", "/proposal/actions/3/kind"),
            ("digest_mismatch", "/claims/1/sha256"),
            ("test_count_mismatch", "/claims/2/passed"),
        }
        assert "git.create_repository" not in {a["kind"] for a in request.actions}
        [count] = [f for f in request.findings if f.code == "test_count_mismatch"]
        assert count.message == "The report has 6 passed test(s), not 9."
        # The sent request carried the boundaries and both tools.
        sent = fake.message_requests()[0].body
        assert "Do not create resources that were not requested" in sent["system"]
        assert {t["name"] for t in sent["tools"]} == {"propose_release", "report_blocker"}
        # In Slack the reviewer sees the release (artifact, version, digest, the tests behind it)
        # and each fabrication.
        [posted] = [m for m in slack.messages() if f"Review {request.id}:" in str(m.get("text"))]
        text = json.dumps(posted["blocks"], ensure_ascii=False)
        [publish] = [a for a in request.actions if a["kind"] == "release.publish"]
        assert publish["artifact"] in text and publish["version"] in text and publish["sha256"][:12] in text
        assert "6 passed" in text
        for code in ("unrequested_action", "digest_mismatch", "test_count_mismatch"):
            assert code in text

        await decide(request.id, Outcome.REJECTED, "bob", comment="invented counts")
        state = await asyncio.wait_for(run, WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Rejected", state
    [workspace] = release.work.iterdir()
    assert git("tag", "--list", cwd=workspace).split() == ["v0.1.0"]
    assert not release.index.exists() and pushes(release.remote) == 0


async def test_a_failing_test_suite_ends_blocked_before_the_agent_or_a_review(
    fake: MessagesFake, tmp_path: Path
) -> None:
    release = Release(tmp_path)
    add_failing_test(release.repository)

    state = await asyncio.wait_for(release.start(), WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Blocked", state
    assert "did not pass (6 passed, 1 failed, 1 skipped" in (state.message or "")
    assert fake.message_requests() == []  # Claude is not asked to make something of a failure
    run = await _flow_run(state)
    assert "review-gate" not in run.tags  # the gate never opened a review
    assert "render-blocker" in await _artifact_keys(run.id)
    assert not release.index.exists() and pushes(release.remote) == 0


async def test_a_refusal_ends_blocked_with_the_category_and_no_review(
    fake: MessagesFake, tmp_path: Path
) -> None:
    fake.script.append(Reply.message(refusal_reply("cyber", "Declined by policy.")))
    release = Release(tmp_path)

    state = await asyncio.wait_for(release.start(), WAIT)

    assert state.type is StateType.CANCELLED and state.name == "Blocked", state
    assert "cyber" in (state.message or "") and "Declined by policy." in (state.message or "")
    run = await _flow_run(state)
    assert "review-gate" not in run.tags
    assert "render-blocker" in await _artifact_keys(run.id)
    assert not release.index.exists() and pushes(release.remote) == 0


async def test_an_unusable_reply_fails_the_run_before_any_review(fake: MessagesFake, tmp_path: Path) -> None:
    reply = clean_recording()
    reply["content"] = [{"type": "text", "text": "Released 0.2.0!"}]
    reply["stop_reason"] = "end_turn"
    fake.script.append(Reply.message(reply))
    release = Release(tmp_path)

    state = await asyncio.wait_for(release.start(), WAIT)

    assert state.is_failed(), state
    assert "nothing was sent for review" in (state.message or "")
    assert "review-gate" not in (await _flow_run(state)).tags
    assert not release.index.exists() and pushes(release.remote) == 0
