"""A Slack-gated flow, `review-gate serve` as a real process, and Slack's interaction payloads.

The flow is `gate_helpers`' line-writing flow with the Slack channel the environment configures
(`configured_slack_channel()`), so the message is posted by the code path flows use. The server
runs as users run it, `review-gate serve --port 0`, against the same Prefect API and Slack fake.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from gate_helpers import EXECUTORS, FINDINGS, WriteLine
from prefect import flow
from slack_fake import SlackCall, SlackFake, signed_interaction

from prefect_review_gate.gates import ReviewPolicy, commit, outcome_state, request_review
from prefect_review_gate.gates.errors import ReviewClosed
from prefect_review_gate.gates.slack import configured_slack_channel

__all__ = [
    "SECRET",
    "Server",
    "block_action",
    "buttons",
    "post_interaction",
    "running_server",
    "slack_env",
    "slack_gated_write",
    "view_submission",
]

SECRET = "test-signing-secret-0123456789abcdef"


def slack_env(fake: SlackFake) -> dict[str, str]:
    """What the flow's process and the server both read."""
    return {
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "REVIEW_GATE_SLACK_API_URL": fake.url,
        "REVIEW_GATE_SLACK_RETRIES": "2",
        "REVIEW_GATE_SLACK_BACKOFF_SECONDS": "0.05",
        "REVIEW_GATE_SLACK_SWEEP_SECONDS": "0.3",
    }


@flow(name="slack-gated-write")
async def slack_gated_write(
    path: str,
    line: str,
    policy: dict[str, Any],
    requester: str = "agent:test",
    with_findings: bool = False,
    slack_channel: str | None = None,
) -> Any:
    actions = [WriteLine(path=path, line=line)]
    channel = configured_slack_channel(channel=slack_channel)
    verdict = await request_review(
        actions,
        policy=ReviewPolicy.model_validate(policy),
        findings=FINDINGS if with_findings else [],
        requester=requester,
        channels=[channel] if channel is not None else [],
    )
    try:
        report = await commit(verdict, actions, executors=EXECUTORS)
    except ReviewClosed as closed:
        return outcome_state(closed)
    return report.model_dump(mode="json")


class Server:
    """A running `review-gate serve`: its events URL, and its stderr for inspection."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, stderr: Path) -> None:
        self.process, self.url, self.stderr_path = process, url, stderr

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_server(api: str, env: dict[str, str], folder: Path, *args: str) -> Iterator[Server]:
    """`review-gate serve --port 0 ARGS` in a new process, once it listens."""
    stderr = folder / "serve.stderr"
    # Each server its own decision queue, as two servers may not share one.
    full_env = {"REVIEW_GATE_SLACK_QUEUE": str(folder / "slack-decisions.sqlite")}
    full_env |= {**os.environ, **env, "PREFECT_API_URL": api}
    command = [sys.executable, "-m", "prefect_review_gate.gates.cli", "serve", "--port", "0", *args]
    with stderr.open("wb") as err:
        process = subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=err)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        line = b""
        while time.monotonic() < deadline and process.poll() is None:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                line = process.stdout.readline()
                break
        text = line.decode().strip()
        if not text.startswith("review-gate serve: listening on "):
            raise RuntimeError(f"review-gate serve did not start: {text!r} {stderr.read_text()}")
        yield Server(process, text.removeprefix("review-gate serve: listening on "), stderr)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """action_id -> button, for the buttons a message shows now."""
    return {
        element["action_id"]: element
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
    }


def block_action(
    user: str,
    message: dict[str, Any],
    action_id: str,
    value: str | None = None,
    trigger: str = "trigger-1",
    *,
    channel: str | None = None,
    response_url: str = "http://127.0.0.1:9/unused",
) -> dict[str, Any]:
    """A `block_actions` payload as Slack sends it when `user` clicks a button of `message`.

    `channel` says where the click happened when not in the message's own channel (a copy of it).
    """
    button = buttons(message).get(action_id, {})
    where = channel or message["channel"]
    return {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "example"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        "container": {"type": "message", "channel_id": where, "message_ts": message["ts"]},
        "channel": {"id": where},
        "trigger_id": trigger,
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b",
                "value": button.get("value") if value is None else value,
                "action_ts": str(time.time()),
            }
        ],
    }


def view_submission(user: str, opened: SlackCall, reason: str) -> dict[str, Any]:
    """The `view_submission` of the modal opened by `opened` (a views.open call), with `reason`."""
    view = opened.params["view"]
    return {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "example"},
        "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}},
        },
    }


async def post_interaction(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    body, headers = signed_interaction(secret, payload, timestamp)
    return await client.post(url, content=body, headers=headers)
