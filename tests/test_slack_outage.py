"""Acknowledged Slack clicks survive a Prefect outage and a killed `review-gate serve`, and count once.

Everything is a real process: a `prefect server start` of this test's own (free port, own SQLite
database, so it can be stopped and started again on the same address), the gated flows paused
in-process in a process of their own, `review-gate serve` (killed with SIGKILL, then started
again while Prefect is still down), and the Slack Web API fake over HTTP. Clicks are signed as
Slack signs them.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_relay import counting_relay
from server_process import PrefectServer
from slack_fake import SlackFake
from slack_helpers import block_action, buttons, post_interaction, running_server, slack_env, view_submission

from prefect_review_gate.gates.request import ReviewRecord
from prefect_review_gate.gates.review_api import ApiTarget, list_pending
from prefect_review_gate.gates.store import parse_record

pytestmark = pytest.mark.anyio

TESTS = Path(__file__).parent
APPROVE, REJECT = "review_gate_approve", "review_gate_reject"
OUTAGE_SECONDS = 30.0
FLOWS = (
    "import asyncio, json, sys, slack_helpers\n"
    "async def main():\n"
    "    runs = json.loads(sys.argv[1])\n"
    "    await asyncio.gather(*(slack_helpers.slack_gated_write(**r, return_state=True) for r in runs))\n"
    "asyncio.run(main())\n"
)


@pytest.fixture
def prefect(tmp_path: Path) -> Iterator[PrefectServer]:
    home = tmp_path / "prefect-server"
    home.mkdir()
    server = PrefectServer(home)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as fake:
        yield fake


def _start_flows(
    api: str, slack: SlackFake, folder: Path, runs: list[dict[str, Any]]
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= slack_env(slack) | {
        "REVIEW_GATE_SLACK_CHANNEL": "COUTAGE",
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(folder / "flows-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p),
    }
    with (folder / "flows.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-c", FLOWS, json.dumps(runs)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _poll(probe: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await probe() if asyncio.iscoroutinefunction(probe) else probe()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(what)


async def _record(api: str, review_id: str) -> ReviewRecord:
    async with ApiTarget(api).client() as client:
        body = {"artifacts": {"key": {"any_": [f"review-gate-{review_id}"]}}, "limit": 1}
        response = await client.post("artifacts/latest/filter", json=body)
        response.raise_for_status()
        [item] = response.json()
    return parse_record(item["data"])


def _message(slack: SlackFake, review_id: str) -> dict[str, Any] | None:
    return next((m for m in slack.messages() if f"Review {review_id}:" in str(m.get("text"))), None)


def _replies(slack: SlackFake, user: str, review_id: str) -> list[str]:
    return [
        c.params["text"]
        for c in slack.calls_to("chat.postEphemeral")
        if c.status == 200 and c.params.get("user") == user and f"`{review_id}`" in c.params["text"]
    ]


async def test_clicks_acknowledged_while_prefect_is_down_reach_their_runs_exactly_once(
    prefect: PrefectServer, slack: SlackFake, tmp_path: Path
) -> None:
    reviewers = {"reviewers": ["slack:UALICE", "slack:UBOB"], "timeout": 900}
    runs = {
        "one": {**reviewers, "reviewers": ["slack:UALICE"]},
        "two": {**reviewers, "approvals_required": 2},
        "reject": {**reviewers, "reviewers": ["slack:UBOB"]},
        "crash": {**reviewers, "approvals_required": 2},
    }
    out = tmp_path / "out"
    out.mkdir()
    flows = _start_flows(
        prefect.api,
        slack,
        tmp_path,
        [
            {"path": str(out / f"{name}.txt"), "line": f"outage-{name}", "policy": p}
            for name, p in runs.items()
        ],
    )

    async def all_waiting() -> dict[str, str] | None:
        pending = await list_pending(ApiTarget(prefect.api))
        ids = {
            p.record.request.actions[0]["line"].removeprefix("outage-"): p.record.request.id for p in pending
        }
        ready = len(ids) == len(runs) and all(p.waiting for p in pending)
        return ids if ready and all(_message(slack, i) for i in ids.values()) else None

    try:
        ids: dict[str, str] = await _poll(all_waiting, "the gated runs did not all wait", 120)
        messages = {name: _message(slack, review_id) or {} for name, review_id in ids.items()}
        env = slack_env(slack) | {
            "REVIEW_GATE_SLACK_QUEUE": str(tmp_path / "queue" / "slack-decisions.sqlite"),
            "REVIEW_GATE_SLACK_REDELIVER_MAX_SECONDS": "1",
        }
        (tmp_path / "s1").mkdir()
        (tmp_path / "s2").mkdir()
        (tmp_path / "s3").mkdir()
        async with httpx.AsyncClient(timeout=10) as http:
            with running_server(prefect.api, env, tmp_path / "s1") as first:
                # Bob opens the Reject modal while Prefect still answers.
                reject = block_action("UBOB", messages["reject"], REJECT, trigger="trigger-outage")
                assert (await post_interaction(http, first.url, reject)).status_code == 200
                opened = await slack.wait_for(
                    "views.open", lambda c: c.params["trigger_id"] == "trigger-outage"
                )

                prefect.stop()
                outage_began = time.monotonic()
                clicks = [
                    block_action("UALICE", messages["one"], APPROVE),
                    block_action("UALICE", messages["two"], APPROVE),
                    block_action("UBOB", messages["two"], APPROVE),
                    view_submission("UBOB", opened, "the numbers are not in the sources"),
                ]
                for click in clicks:
                    began = time.monotonic()
                    assert (await post_interaction(http, first.url, click)).status_code == 200
                    assert time.monotonic() - began < 2.5  # acknowledged within Slack's 3 s
                for user, name in (("UALICE", "one"), ("UALICE", "two"), ("UBOB", "two"), ("UBOB", "reject")):
                    await _poll(
                        lambda u=user, n=name: any("is queued" in t for t in _replies(slack, u, ids[n])),
                        f"{user} was not told that the decision on {name} is queued",
                        30,
                    )
                first.process.send_signal(signal.SIGKILL)
                first.process.wait(10)

            # Started again while Prefect is still down: it has served this API before, so it serves.
            with running_server(prefect.api, env, tmp_path / "s2") as second:
                again = block_action("UALICE", messages["one"], APPROVE)
                assert (await post_interaction(http, second.url, again)).status_code == 200
                await _poll(
                    lambda: any("already on its way" in t for t in _replies(slack, "UALICE", ids["one"])),
                    "a second click while the first is queued was not answered",
                    30,
                )
                await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_began)))
                prefect.start()

                one, two, rejected = [await _final(prefect.api, ids[n]) for n in ("one", "two", "reject")]
                assert one.status.value == "approved" and [v.reviewer for v in one.votes] == ["slack:UALICE"]
                assert two.status.value == "approved"
                assert sorted(v.reviewer for v in two.votes) == ["slack:UALICE", "slack:UBOB"]
                assert rejected.status.value == "rejected" and "not in the sources" in rejected.note
                # Exactly once: each decision reached its run once, however often it was tried.
                assert (one.decisions_seen, two.decisions_seen, rejected.decisions_seen) == (1, 2, 1)
                assert all(v.verified and v.channel == "slack" for r in (one, two, rejected) for v in r.votes)
                for user, name in (("UALICE", "one"), ("UALICE", "two"), ("UBOB", "two"), ("UBOB", "reject")):
                    await _poll(
                        lambda u=user, n=name: (
                            len([t for t in _replies(slack, u, ids[n]) if "was sent" in t]) == 1
                        ),
                        f"{user} was not told once that the decision on {name} was sent",
                        30,
                    )

                # A first vote on the last run, delivered normally.
                crash = block_action("UALICE", messages["crash"], APPROVE)
                assert (await post_interaction(http, second.url, crash)).status_code == 200
                await _poll(
                    lambda: any("was sent" in t for t in _replies(slack, "UALICE", ids["crash"])),
                    "the first vote on the last run was not sent",
                )

            # As if the server had died between the resume and marking the entry delivered.
            queue = sqlite3.connect(tmp_path / "queue" / "slack-decisions.sqlite")
            with queue:
                changed = queue.execute(
                    "UPDATE decisions SET state = 'pending', sending = 1 "
                    "WHERE review_id = ? AND user = 'UALICE'",
                    (ids["crash"],),
                ).rowcount
            queue.close()
            assert changed == 1
            with running_server(prefect.api, env, tmp_path / "s3") as third:
                await _poll(
                    lambda: _queue_state(tmp_path, ids["crash"]) == "delivered", "not redelivered", 30
                )
                assert (await _record(prefect.api, ids["crash"])).decisions_seen == 1  # no second resume
                last = block_action("UBOB", messages["crash"], APPROVE)
                assert (await post_interaction(http, third.url, last)).status_code == 200
                crashed = await _final(prefect.api, ids["crash"])
                assert crashed.status.value == "approved" and crashed.decisions_seen == 2

        assert flows.wait(60) == 0
        for name in ("one", "two", "crash"):
            assert (out / f"{name}.txt").read_text().splitlines() == [f"outage-{name}"]
        assert not (out / "reject.txt").exists()
        final = [m for m in slack.messages() if m["channel"] == "COUTAGE"]
        assert len(final) == 4 and not any(buttons(m) for m in final)
    finally:
        if flows.poll() is None:
            os.killpg(flows.pid, signal.SIGKILL)
            flows.wait()


def _queue_state(folder: Path, review_id: str) -> str:
    with sqlite3.connect(folder / "queue" / "slack-decisions.sqlite") as queue:
        row = queue.execute(
            "SELECT state FROM decisions WHERE review_id = ? AND user = 'UALICE'", (review_id,)
        ).fetchone()
    return str(row[0]) if row else ""


async def _final(api: str, review_id: str, timeout: float = 90) -> ReviewRecord:
    async def closed() -> ReviewRecord | None:
        try:
            record = await _record(api, review_id)
        except httpx.HTTPError:
            return None
        return None if record.is_open else record

    found: ReviewRecord = await _poll(closed, f"review {review_id} did not close", timeout)
    return found


RESUME_HOLD_SECONDS = 12.0  # longer than an attempt waits before the clicker hears "queued" (8 s)


async def test_a_slow_resume_is_waited_for_not_sent_again(
    prefect: PrefectServer, slack: SlackFake, tmp_path: Path
) -> None:
    """Prefect answers the resume only after 12 s: the clicker hears "queued" meanwhile, and the
    same attempt goes on; no second attempt asks the busy server again, nor resumes a second time."""
    out = tmp_path / "out"
    out.mkdir()
    policy = {"reviewers": ["slack:UALICE"], "timeout": 900}
    flows = _start_flows(
        prefect.api, slack, tmp_path, [{"path": str(out / "slow.txt"), "line": "slow-one", "policy": policy}]
    )

    async def waiting() -> str | None:
        pending = await list_pending(ApiTarget(prefect.api))
        ids = [p.record.request.id for p in pending if p.waiting]
        return ids[0] if ids and _message(slack, ids[0]) else None

    def held(method: str, path: str) -> float:
        return RESUME_HOLD_SECONDS if method == "POST" and path.endswith("/resume") else 0.0

    try:
        review_id: str = await _poll(waiting, "the gated run did not wait", 120)
        message = _message(slack, review_id) or {}
        env = slack_env(slack) | {
            "REVIEW_GATE_SLACK_QUEUE": str(tmp_path / "queue" / "slack-decisions.sqlite")
        }
        (tmp_path / "s1").mkdir()
        with (
            counting_relay(prefect.api, hold=held) as (slow_api, seen),
            running_server(slow_api, env, tmp_path / "s1") as server,
        ):
            async with httpx.AsyncClient(timeout=10) as http:
                click = block_action("UALICE", message, APPROVE)
                assert (await post_interaction(http, server.url, click)).status_code == 200
            await _poll(
                lambda: any("is queued" in t for t in _replies(slack, "UALICE", review_id)),
                "the clicker was not told the decision is queued while Prefect was slow",
                RESUME_HOLD_SECONDS,
            )
            delivered = "the click was not delivered"
            await _poll(lambda: _queue_state(tmp_path, review_id) == "delivered", delivered, 60)
            record = await _final(prefect.api, review_id)
            resumes = [path for method, path in seen if method == "POST" and path.endswith("/resume")]

        assert record.status.value == "approved" and record.decisions_seen == 1
        assert len(resumes) == 1  # one attempt: not cancelled at 8 s and started over
        replies = _replies(slack, "UALICE", review_id)
        assert len([t for t in replies if "is queued" in t]) == 1
        assert len([t for t in replies if "was sent" in t]) == 1
        assert flows.wait(60) == 0
        assert (out / "slow.txt").read_text().splitlines() == ["slow-one"]
    finally:
        if flows.poll() is None:
            os.killpg(flows.pid, signal.SIGKILL)
            flows.wait()
