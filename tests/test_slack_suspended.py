"""Slack under suspend: the re-run after a decision updates the message it posted, not a new one.

The Slack-gated flow (`slack_helpers.slack_gated_write`) is served as a deployment from its own
process, with the Slack settings pointing at a `SlackFake` in this test. From a deployment the gate
suspends the run: the process that posted the message exits, and after the decision the flow body
re-runs from the top in a new process with a new `SlackChannel`. Only the Prefect artifact
`review-gate-<review id>-slack` tells that channel where the message is.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from gate_helpers import serving_deployments, wait_until_waiting
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from slack_fake import SlackFake
from slack_helpers import buttons, slack_env

from prefect_review_gate.gates import Outcome
from prefect_review_gate.gates.request import ReviewStatus
from prefect_review_gate.gates.reviews import decide, get_review
from prefect_review_gate.gates.slack.locations import MessageLocation, load_posted

pytestmark = pytest.mark.anyio

TESTS = Path(__file__).parent
DEPLOYMENT = "slack-gated-write/slack-suspended"
SLACK_CHANNEL = "CSUSPENDED"
WAIT = 30.0
SERVE = (
    "from prefect import serve; from prefect.deployments.runner import RunnerDeployment; "
    "import slack_helpers; "
    "serve(RunnerDeployment.from_flow(slack_helpers.slack_gated_write, name='slack-suspended'))"
)


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


@pytest.fixture
def served(prefect_api: str, slack: SlackFake, tmp_path: Path) -> Iterator[Path]:
    """`slack_gated_write` served as a deployment; its flow runs read the Slack settings from here."""
    log = tmp_path / "runner.log"
    env = {
        **os.environ,
        **slack_env(slack),
        "REVIEW_GATE_SLACK_CHANNEL": SLACK_CHANNEL,
        "PREFECT_API_URL": prefect_api,
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p),
    }
    with serving_deployments(SERVE, [DEPLOYMENT], env, log, cwd=TESTS.parent, wait=WAIT):
        yield log


async def _read_run(run_id: UUID) -> FlowRun:
    async with get_client() as client:
        return await client.read_flow_run(run_id)


async def _final(run_id: UUID, log: Path) -> FlowRun:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        run = await _read_run(run_id)
        if run.state is not None and run.state.is_final():
            return run
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {run_id} did not end: {log.read_text(errors='replace')}")


def _shown(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False)


async def test_the_re_run_after_a_suspend_updates_the_message_it_posted(
    served: Path, slack: SlackFake, tmp_path: Path
) -> None:
    out = tmp_path / "side-effects.txt"
    line = "slack-suspended-line"
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(DEPLOYMENT)
        run = await client.create_flow_run_from_deployment(
            deployment.id,
            parameters={"path": str(out), "line": line, "policy": {"reviewers": ["alice"], "timeout": 600}},
        )

    pending = await wait_until_waiting(line, timeout=WAIT)
    review_id = pending.record.request.id
    suspended = await _read_run(run.id)
    assert suspended.state is not None and suspended.state.name == "Suspended", suspended.state
    [posted] = slack.calls_to("chat.postMessage")
    assert posted.status == 200 and posted.params["channel"] == SLACK_CHANNEL
    [message] = slack.messages()
    assert set(buttons(message)) == {"review_gate_approve", "review_gate_reject"}
    assert f"Review {review_id}:" in message["text"]
    where = {"channel": message["channel"], "ts": message["ts"]}
    stored = await load_posted(review_id)
    assert stored is not None and stored.complete and stored.messages == [MessageLocation(**where)], stored
    assert slack.calls_to("chat.update") == [] and out.exists() is False

    await decide(review_id, Outcome.APPROVED, "alice")
    finished = await _final(run.id, served)

    assert finished.state is not None and finished.state.is_completed(), finished.state
    assert out.read_text(encoding="utf-8").splitlines() == [line]  # the side effect, once
    assert (await get_review(review_id)).status is ReviewStatus.APPROVED
    # The re-run, in a new process, found the message through the artifact and rewrote it.
    assert len(slack.calls_to("chat.postMessage")) == 1
    updates = slack.calls_to("chat.update")
    assert updates and all(u.status == 200 for u in updates), updates
    assert [{"channel": u.params["channel"], "ts": u.params["ts"]} for u in updates] == [where] * len(updates)
    [final] = slack.messages()
    assert (final["channel"], final["ts"]) == (where["channel"], where["ts"])
    assert buttons(final) == {} and all(b.get("type") != "actions" for b in final["blocks"])
    assert "*Approved*" in _shown(final) and "alice approved (name as typed" in _shown(final), _shown(final)
    assert "approved" in final["text"] and "waiting" not in final["text"]
