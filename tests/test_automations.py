"""The ready-made automations on a real Prefect server with its triggers and actions services: the
gate's event fires, the automation acts (a notification reaches a local webhook receiver; the
agent's deployment is paused).

`review-gate automations apply` creates them against the session's server, pointed at a custom
webhook notification block whose URL is a receiver this module runs on loopback. They are deleted
when the module ends, so other tests' reviews are not notified about.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prefect import flow
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.schedules import IntervalSchedule

from prefect_review_gate.flows.report import review_gate_report
from prefect_review_gate.gates import ReviewPolicy, commit, outcome_state, request_review
from prefect_review_gate.gates.automations import DELIVERY_FAILED, FABRICATION_ALERT, WAITING_TOO_LONG
from prefect_review_gate.gates.errors import DeliveryFailed, ReviewClosed
from prefect_review_gate.gates.request import ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.reviews import decide
from prefect_review_gate.gates.store_client import open_store
from prefect_review_gate.gates.votes import Outcome
from prefect_review_gate.validators import Finding, Severity
from tests.gate_helpers import EXECUTORS, WriteLine, review_of_run, run_cli
from tests.http_relay import serving
from tests.monitoring_helpers import monitored_write

pytestmark = pytest.mark.anyio

WAIT_HOURS = "0.005"  # 18 s: Prefect's floor for a proactive window is 10 s
WAIT_SECONDS = 18


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append(json.loads(self.rfile.read(length) or b"{}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback: what the notification block posts lands in the list."""
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received


@pytest.fixture(scope="module")
async def applied(prefect_api: str, receiver: tuple[str, list[dict[str, Any]]]) -> AsyncIterator[str]:
    url, _ = receiver
    name = "reviewers-" + uuid.uuid4().hex[:6]
    block = CustomWebhookNotificationBlock(
        name="reviewers", url=url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
    )
    await block.save(name)
    reference = f"{CustomWebhookNotificationBlock.get_block_type_slug()}/{name}"
    hours = WAIT_HOURS
    status, out, err = await run_cli(
        "automations", "apply", "--notify-block", reference, "--waiting-hours", hours, api=prefect_api
    )
    assert status == 0, err
    assert out.count("created") == 3
    # Applying again updates the same three: no duplicates.
    status, out, err = await run_cli(
        "automations", "apply", "--notify-block", reference, "--waiting-hours", hours, api=prefect_api
    )
    assert status == 0 and out.count("updated") == 3, err
    await asyncio.sleep(2)  # the triggers service loads automations when they change
    yield reference
    async with get_client() as client:
        for automation_name in (WAITING_TOO_LONG, FABRICATION_ALERT, DELIVERY_FAILED):
            for automation in await client.read_automations_by_name(automation_name):
                await client.delete_automation(automation.id)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


async def _notification(received: list[dict[str, Any]], needle: str, timeout: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for message in received:
            if needle in message.get("subject", "") + message.get("body", ""):
                return message
        await asyncio.sleep(0.5)
    raise AssertionError(f"no notification mentioning {needle!r}; received: {received}")


async def test_bad_usage_exits_2(prefect_api: str) -> None:
    status, _, err = await run_cli("automations", "apply", "--notify-block", "nonsense", api=prefect_api)
    assert status == 2 and "<block type>/<name>" in err
    status, _, err = await run_cli(
        "automations", "apply", "--notify-block", "slack-webhook/nobody-made-this", api=prefect_api
    )
    assert status == 2 and "no such block" in err
    status, _, err = await run_cli(
        "automations", "apply", "--notify-block", "x/y", "--waiting-hours", "0", api=prefect_api
    )
    assert status == 2 and "--waiting-hours" in err


async def test_a_review_waiting_too_long_notifies_and_a_decided_one_does_not(
    applied: str, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, received = receiver
    out = str(tmp_path / "out.txt")
    policy = {"reviewers": ["alice"], "timeout": 600}
    slow = asyncio.ensure_future(monitored_write(out, "slow", "agent:waits", policy, return_state=True))
    fast = asyncio.ensure_future(monitored_write(out, "fast", "agent:waits", policy, return_state=True))
    waiting = await review_of_run(slow, lambda p: p.record.request.actions[0]["line"] == "slow", "slow")
    quick = await review_of_run(fast, lambda p: p.record.request.actions[0]["line"] == "fast", "fast")
    await decide(quick.record.request.id, Outcome.APPROVED, "alice")
    await asyncio.wait_for(fast, 60)

    slow_id, quick_id = waiting.record.request.id, quick.record.request.id
    message = await _notification(received, slow_id, timeout=WAIT_SECONDS + 45)
    assert message["subject"] == f"Review {slow_id} has waited more than {WAIT_HOURS} h"
    assert "review-gate show " + slow_id in message["body"]
    await asyncio.sleep(5)  # the decided one's window has passed too by now
    assert not any(quick_id in m.get("subject", "") for m in received)
    await decide(slow_id, Outcome.REJECTED, "alice", comment="done testing")
    await asyncio.wait_for(slow, 60)


async def test_an_agent_fabricating_too_often_gets_its_deployment_paused_and_told_why(
    applied: str, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    _, received = receiver
    agent = "agent:inventor-" + uuid.uuid4().hex[:6]
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("inventor-flow")
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name=f"inventor-{agent[-6:]}",
            schedules=[DeploymentScheduleCreate(schedule=IntervalSchedule(interval=timedelta(hours=1)))],
        )
        assert (await client.read_deployment(deployment_id)).paused is False
    # Four reviews of the agent's runs from that deployment, three with an invented recipient: the
    # records the gate saves, saved through the same store.
    now = datetime.now(UTC)
    async with open_store() as store:
        for index in range(4):
            findings = [Finding(code="unknown_recipient", severity=Severity.BLOCK, message="invented")]
            request = ReviewRequest(
                id=uuid.uuid4().hex[:12],
                flow_run_id=uuid.uuid4(),
                flow_name="inventor-flow",
                deployment_id=deployment_id,
                requester=agent,
                actions=[],
                findings=findings if index < 3 else [],
                content_hash="h",
                policy=ReviewPolicy(reviewers=["alice"]),
                created_at=now - timedelta(minutes=30),
                deadline=now + timedelta(hours=1),
            )
            await store.save(ReviewRecord(request=request, status=ReviewStatus.OPEN, updated_at=now))

    figures = await review_gate_report(since_hours=1, fabrication_threshold=0.5, min_reviews=3)
    assert agent in figures["fabrication_alerts"]

    message = await _notification(received, agent)
    assert message["subject"] == f"Paused inventor-{agent[-6:]}: {agent} fabricates too often"
    assert "in 3 of its 4 reviews over the last 24" in message["body"]
    assert "75%, above the threshold of 50%" in message["body"]
    async with get_client() as client:
        deadline = asyncio.get_running_loop().time() + 30
        while not (await client.read_deployment(deployment_id)).paused:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the deployment was not paused: {await _action_events()}")
            await asyncio.sleep(0.5)
        # Paused, not run: an update that lost the action's type once made Prefect run it instead.
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
        assert runs == []


async def _action_events() -> list[str]:
    """What the automations' actions reported: for a failure's message."""
    body = {"filter": {"event": {"prefix": ["prefect.automation.action"]}}, "limit": 50}
    async with get_client() as client:
        response = await client.request("POST", "/events/filter", json=body)
    return [f"{e['event']}: {json.dumps(e['payload'])[:400]}" for e in response.json()["events"]]


class _BrokenChannel:
    """A channel whose service is down: every call fails as a real outage would."""

    name = "pager"

    async def notify(self, record: ReviewRecord) -> None:
        raise DeliveryFailed("pager answered 503 Service Unavailable")

    async def update(self, record: ReviewRecord) -> None:
        raise DeliveryFailed("pager answered 503 Service Unavailable")

    async def withdraw(self, record: ReviewRecord) -> None:
        raise DeliveryFailed("pager answered 503 Service Unavailable")


@flow(name="broken-channel-write")
async def _broken_channel_write(path: str) -> Any:
    actions = [WriteLine(path=path, line="through a broken channel")]
    verdict = await request_review(
        actions,
        policy=ReviewPolicy(reviewers=["alice"]),
        requester="agent:pager",
        channels=[_BrokenChannel()],
    )
    try:
        return (await commit(verdict, executors=EXECUTORS)).model_dump(mode="json")
    except ReviewClosed as closed:
        return outcome_state(closed)


async def test_a_failed_delivery_notifies(
    applied: str, receiver: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, received = receiver
    run = asyncio.ensure_future(_broken_channel_write(str(tmp_path / "out.txt"), return_state=True))
    pending = await review_of_run(run, lambda p: p.record.request.requester == "agent:pager", "pager review")
    review_id = pending.record.request.id
    message = await _notification(received, f"Review {review_id}: pager: notify failed")
    assert "pager answered 503 Service Unavailable" in message["body"]
    assert f"review-gate approve|reject {review_id}" in message["body"]
    await decide(review_id, Outcome.REJECTED, "alice", comment="done testing")
    await asyncio.wait_for(run, 60)
