"""Slack approvals end to end: real paused runs on a real Prefect API, `review-gate serve` as a process,
the flow's `SlackChannel` and the server both talking to a Slack Web API fake over HTTP, and every
interaction signed as Slack signs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gate_helpers import Started, run_cli, wait_until_waiting
from prefect.client.schemas.objects import StateType
from slack_fake import SlackCall, SlackFake, signed_interaction
from slack_helpers import (
    SECRET,
    Server,
    block_action,
    buttons,
    post_interaction,
    running_server,
    slack_env,
    slack_gated_write,
    view_submission,
)
from slack_sdk.signature import SignatureVerifier

from prefect_review_gate.gates.reviews import get_review_status

pytestmark = pytest.mark.anyio

APPROVE, REJECT, OVERRIDE = "review_gate_approve", "review_gate_reject", "review_gate_override"


@pytest.fixture(scope="module")
def fake() -> Iterator[SlackFake]:
    with SlackFake() as slack:
        slack.group_members["SOPS"] = ["UCAROL", "UDAVE"]
        yield slack


@pytest.fixture(scope="module")
def env(fake: SlackFake) -> Iterator[dict[str, str]]:
    """The flows in this process read the same Slack settings as the server."""
    values = slack_env(fake)
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    yield values
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def server(
    prefect_api: str, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with running_server(prefect_api, env, tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def start(tmp_path: Path, line: str, policy: dict[str, Any], **kw: Any) -> Started:
    """Start the gated flow; the policy dict may name the review's `slack_channel`, which the flow
    passes to its Slack channel (a channel's setting, not the policy's)."""
    out = tmp_path / "side-effects.txt"
    policy = dict(policy)
    kw.setdefault("slack_channel", policy.pop("slack_channel", None))
    task = asyncio.create_task(slack_gated_write(str(out), line, policy, return_state=True, **kw))
    return Started(task, out, line)


async def message_for(
    fake: SlackFake,
    review_id: str,
    where: Callable[[dict[str, Any]], bool] = lambda m: True,
    timeout: float = 30,
) -> dict[str, Any]:
    """The review's Slack message as it stands, once `where` holds for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in fake.messages():
            if f"Review {review_id}:" in str(message.get("text")) and where(message):
                return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no Slack message for review {review_id} matched")


async def told(fake: SlackFake, user: str, words: str, timeout: float = 30) -> SlackCall:
    """The ephemeral reply `user` got that contains `words`."""
    return await fake.wait_for(
        "chat.postEphemeral", lambda c: c.params.get("user") == user and words in c.params["text"], timeout
    )


def shown(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


async def test_approve_resumes_the_run_and_the_message_ends_without_buttons(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    policy = {"reviewers": ["slack:UALICE", "slack:UBOB"], "slack_channel": "CREVIEWS", "timeout": 600}
    run = start(tmp_path, "slack-approve", policy)
    review_id = (await wait_until_waiting("slack-approve")).record.request.id
    message = await message_for(fake, review_id)
    assert message["channel"] == "CREVIEWS"
    assert set(buttons(message)) == {APPROVE, REJECT}
    assert "<@UALICE>, <@UBOB>" in shown(message) and "slack-approve" in shown(message)
    assert "0/1 approvals" in shown(message)

    began = time.monotonic()
    response = await post_interaction(http, server.url, block_action("UALICE", message, APPROVE))
    assert response.status_code == 200
    assert time.monotonic() - began < 2.5  # Slack's ack deadline is 3 s
    state = await run.final_state()
    assert state.is_completed(), state
    assert run.written() == ["slack-approve"]

    final = await message_for(fake, review_id, lambda m: not buttons(m))
    assert "*Approved*" in shown(final) and "<@UALICE> approved (verified by slack" in shown(final)
    [vote] = (await get_review_status(review_id)).record.votes
    assert (vote.reviewer, vote.channel, vote.verified) == ("slack:UALICE", "slack", True)
    await told(fake, "UALICE", "approval of review")
    assert fake.calls_to("auth.test") == []  # the custom authorize spares Bolt's auth.test


async def test_reject_asks_for_a_reason_in_a_modal_and_records_it(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    run = start(tmp_path, "slack-reject", {"reviewers": ["slack:UALICE"], "slack_channel": "CREVIEWS"})
    review_id = (await wait_until_waiting("slack-reject")).record.request.id
    message = await message_for(fake, review_id)

    click = block_action("UALICE", message, REJECT, trigger="trigger-reject")
    assert (await post_interaction(http, server.url, click)).status_code == 200
    opened = await fake.wait_for("views.open", lambda c: c.params["trigger_id"] == "trigger-reject")
    assert opened.params["view"]["title"]["text"] == "Reject review"

    blank = await post_interaction(http, server.url, view_submission("UALICE", opened, "   "))
    assert blank.status_code == 200 and blank.json()["response_action"] == "errors"
    assert (await get_review_status(review_id)).waiting

    reason = "the figures are invented"
    assert (
        await post_interaction(http, server.url, view_submission("UALICE", opened, reason))
    ).status_code == 200
    state = await run.final_state()
    assert state.type is StateType.CANCELLED and state.name == "Rejected"
    assert run.written() == []
    final = await message_for(fake, review_id, lambda m: not buttons(m))
    assert "*Rejected*" in shown(final) and reason in shown(final)


async def test_blocking_findings_approve_only_through_an_override_reason(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    policy = {"reviewers": ["slack:UALICE"], "slack_channel": "CREVIEWS"}
    run = start(tmp_path, "slack-override", policy, with_findings=True)
    review_id = (await wait_until_waiting("slack-override")).record.request.id
    message = await message_for(fake, review_id)
    assert set(buttons(message)) == {OVERRIDE, REJECT}  # no plain Approve while findings block
    assert "*Blocking* (1)" in shown(message) and "Revenue grew 40% year over year." in shown(message)

    click = block_action("UALICE", message, OVERRIDE, trigger="trigger-override")
    assert (await post_interaction(http, server.url, click)).status_code == 200
    opened = await fake.wait_for("views.open", lambda c: c.params["trigger_id"] == "trigger-override")
    assert opened.params["view"]["title"]["text"] == "Approve anyway"
    reason = "checked the 400% with finance by phone"
    assert (
        await post_interaction(http, server.url, view_submission("UALICE", opened, reason))
    ).status_code == 200

    assert (await run.final_state()).is_completed()
    assert run.written() == ["slack-override"]
    [vote] = (await get_review_status(review_id)).record.votes
    assert vote.override_reason == reason and vote.reviewer == "slack:UALICE"


async def test_outsiders_and_the_requester_are_told_no_and_the_review_keeps_waiting(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    policy = {"reviewers": ["slack:UALICE", "slack:UREQ"], "slack_channel": "CREVIEWS"}
    run = start(tmp_path, "slack-guarded", policy, requester="slack:UREQ")
    review_id = (await wait_until_waiting("slack-guarded")).record.request.id
    message = await message_for(fake, review_id)

    for user in ("UMALLORY", "UREQ"):
        assert (
            await post_interaction(http, server.url, block_action(user, message, APPROVE))
        ).status_code == 200
    await told(fake, "UMALLORY", "slack:UMALLORY is not a reviewer this policy lists")
    await told(fake, "UREQ", "the requester may not decide its own request")
    click = block_action("UMALLORY", message, REJECT, trigger="trigger-mallory")
    assert (await post_interaction(http, server.url, click)).status_code == 200
    deadline = time.monotonic() + 30
    while len([c for c in fake.calls_to("chat.postEphemeral") if c.params["user"] == "UMALLORY"]) < 2:
        assert time.monotonic() < deadline, "Mallory's Reject click got no answer"
        await asyncio.sleep(0.05)
    status = await get_review_status(review_id)
    assert status.waiting and status.record.votes == []
    assert not [c for c in fake.calls_to("views.open") if c.params["trigger_id"] == "trigger-mallory"]

    assert (
        await post_interaction(http, server.url, block_action("UALICE", message, APPROVE))
    ).status_code == 200
    assert (await run.final_state()).is_completed()
    assert run.written() == ["slack-guarded"]


async def test_quorum_of_two_updates_the_message_between_votes_and_refuses_double_clicks(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    policy = {
        "reviewers": ["slack:UALICE", "slack:UBOB", "slack-group:SOPS"],
        "approvals_required": 2,
        "slack_channel": "CREVIEWS",
    }
    run = start(tmp_path, "slack-quorum", policy)
    review_id = (await wait_until_waiting("slack-quorum")).record.request.id
    message = await message_for(fake, review_id)
    assert "0/2 approvals" in shown(message)

    assert (
        await post_interaction(http, server.url, block_action("UALICE", message, APPROVE))
    ).status_code == 200
    await wait_until_waiting("slack-quorum", approvals=1)
    between = await message_for(fake, review_id, lambda m: "1/2 approvals" in shown(m))
    assert set(buttons(between)) == {APPROVE, REJECT} and "<@UALICE> approved" in shown(between)

    assert (
        await post_interaction(http, server.url, block_action("UALICE", message, APPROVE))
    ).status_code == 200
    await told(fake, "UALICE", "You already approved")
    # Carol decides as a member of the listed group, looked up through usergroups.users.list.
    assert (
        await post_interaction(http, server.url, block_action("UCAROL", message, APPROVE))
    ).status_code == 200
    assert (await run.final_state()).is_completed()
    assert run.written() == ["slack-quorum"]
    votes = (await get_review_status(review_id)).record.votes
    assert [(v.reviewer, v.member_of, v.verified) for v in votes] == [
        ("slack:UALICE", "", True),
        ("slack:UCAROL", "slack-group:SOPS", True),
    ]

    assert (
        await post_interaction(http, server.url, block_action("UBOB", message, APPROVE))
    ).status_code == 200
    await told(fake, "UBOB", "already decided")
    final = await message_for(fake, review_id, lambda m: not buttons(m))
    assert "*Approved*" in shown(final) and "<@UCAROL> approved" in shown(final)


async def test_a_decision_from_the_cli_updates_the_slack_message(
    prefect_api: str, server: Server, fake: SlackFake, tmp_path: Path
) -> None:
    run = start(tmp_path, "slack-cli", {"reviewers": ["alice", "slack:UBOB"], "slack_channel": "CREVIEWS"})
    review_id = (await wait_until_waiting("slack-cli")).record.request.id
    assert buttons(await message_for(fake, review_id))

    code, _, err = await run_cli("approve", review_id, "--as", "alice", api=prefect_api)
    assert code == 0, err
    assert (await run.final_state()).is_completed()
    final = await message_for(fake, review_id, lambda m: not buttons(m))
    assert "*Approved*" in shown(final) and "alice approved (name as typed" in shown(final)


async def test_slack_down_at_posting_time_leaves_the_review_decidable_from_the_cli(
    prefect_api: str, server: Server, fake: SlackFake, tmp_path: Path
) -> None:
    fake.down = True
    try:
        run = start(tmp_path, "slack-down", {"reviewers": ["alice"], "slack_channel": "CREVIEWS"})
        review_id = (await wait_until_waiting("slack-down")).record.request.id
        failed = [c for c in fake.calls_to("chat.postMessage") if c.status == 503]
        assert len(failed) >= 3  # the first try and two retries
        assert not [m for m in fake.messages() if f"Review {review_id}:" in str(m.get("text"))]
    finally:
        fake.down = False

    fake.rate_limited = 2  # Slack is back but throttles: the retry handler waits out the 429s
    code, _, err = await run_cli("approve", review_id, "--as", "alice", api=prefect_api)
    assert code == 0, err
    assert (await run.final_state()).is_completed()
    assert run.written() == ["slack-down"]
    # Never posted while Slack was down: the outcome is posted when the review ends.
    final = await message_for(fake, review_id, lambda m: not buttons(m))
    assert "*Approved*" in shown(final)
    assert fake.rate_limited == 0 and any(c.status == 429 for c in fake.calls)


async def test_a_reminder_escalates_in_the_thread_and_expiry_ends_the_message(
    prefect_api: str, server: Server, fake: SlackFake, tmp_path: Path
) -> None:
    policy = {
        "reviewers": ["slack:UALICE"],
        "slack_channel": "CREVIEWS",
        "timeout": 4,
        "escalation": ["slack:UBOSS", "slack-group:SOPS"],
    }
    run = start(tmp_path, "slack-expiry", policy)
    review_id = (await wait_until_waiting("slack-expiry")).record.request.id
    message = await message_for(fake, review_id)

    reminder = await fake.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == message["ts"])
    assert f"review `{review_id}` is still waiting" in reminder.params["text"]
    assert "<@UBOSS>" in reminder.params["text"] and "<!subteam^SOPS>" in reminder.params["text"]
    state = await run.final_state()
    assert state.type is StateType.CANCELLED and state.name == "Expired"
    assert run.written() == []
    final = await message_for(fake, review_id, lambda m: not buttons(m))
    assert "*Expired*" in shown(final)
    reminders = [c for c in fake.calls_to("chat.postMessage") if c.params.get("thread_ts") == message["ts"]]
    assert len(reminders) == 1


async def test_forged_stale_tampered_malformed_and_oversized_requests_resume_nothing(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    run = start(tmp_path, "slack-guard", {"reviewers": ["slack:UALICE"], "slack_channel": "CREVIEWS"})
    review_id = (await wait_until_waiting("slack-guard")).record.request.id
    message = await message_for(fake, review_id)
    approve = block_action("UALICE", message, APPROVE)
    value = approve["actions"][0]["value"]

    forged = await post_interaction(http, server.url, approve, secret="not-the-signing-secret")
    stale = await post_interaction(http, server.url, approve, timestamp=int(time.time()) - 600)
    body, _ = signed_interaction(SECRET, approve)
    unsigned = await http.post(
        server.url, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (forged.status_code, stale.status_code, unsigned.status_code) == (401, 401, 401)

    other_review = value.replace(review_id, "0" * len(review_id), 1)
    flipped = value[:-1] + ("0" if value[-1] != "0" else "1")
    reject_token = buttons(message)[REJECT]["value"]
    for bad in (other_review, flipped, "v1.not-a-token", reject_token):
        response = await post_interaction(
            http, server.url, block_action("UALICE", message, APPROVE, value=bad)
        )
        assert response.status_code == 400, bad

    big = {**approve, "padding": "x" * 100_000}
    assert (await post_interaction(http, server.url, big)).status_code == 413
    for raw in (b"payload=%7Bnot-json", b"payload=%5B1%5D", b"\xff\xfe"):
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": (
                SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=raw)
                if raw.isascii()
                else "v0=0"
            ),
        }
        malformed = await http.post(server.url, content=raw, headers=headers)
        assert 400 <= malformed.status_code < 500, raw

    status = await get_review_status(review_id)
    assert status.waiting and status.record.votes == [] and status.record.decisions_seen == 0

    # The genuine click, then the very same request replayed: the first decides, the replay is refused.
    body, headers = signed_interaction(SECRET, approve)
    assert (await http.post(server.url, content=body, headers=headers)).status_code == 200
    assert (await run.final_state()).is_completed()
    assert (await http.post(server.url, content=body, headers=headers)).status_code == 200
    await told(fake, "UALICE", "already decided")
    assert run.written() == ["slack-guard"]

    logs = server.stderr()
    assert SECRET not in logs and fake.token not in logs and "padding" not in logs


async def test_serve_refuses_to_start_without_its_secrets_or_the_prefect_api(
    prefect_api: str, env: dict[str, str]
) -> None:
    code, out, err = await run_cli(
        "serve", "--port", "0", api=prefect_api, extra_env={"SLACK_SIGNING_SECRET": ""}
    )
    assert code == 2 and out == ""
    assert (
        err
        == "review-gate serve: SLACK_SIGNING_SECRET is not set: the server cannot verify Slack's requests\n"
    )
    code, _, err = await run_cli("serve", "--socket-mode", api=prefect_api, extra_env={"SLACK_APP_TOKEN": ""})
    assert code == 2 and err.startswith("review-gate serve: --socket-mode needs SLACK_APP_TOKEN")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    code, _, err = await run_cli("serve", "--port", "0", api=f"http://127.0.0.1:{closed}/api")
    assert code == 2 and err.startswith("review-gate serve: cannot reach the Prefect API (PREFECT_API_URL)")
    assert err.count("\n") == 1


async def test_socket_mode_shares_the_listeners(
    prefect_api: str, env: dict[str, str], fake: SlackFake, tmp_path: Path
) -> None:
    socket_env = {**env, "SLACK_APP_TOKEN": fake.app_token}
    with running_server(prefect_api, socket_env, tmp_path, "--socket-mode") as socket_server:
        assert socket_server.url == "socket mode"
        run = start(tmp_path, "slack-socket", {"reviewers": ["slack:UALICE"], "slack_channel": "CREVIEWS"})
        review_id = (await wait_until_waiting("slack-socket")).record.request.id
        message = await message_for(fake, review_id)

        ack = await fake.deliver(block_action("UALICE", message, APPROVE))
        assert ack["envelope_id"].startswith("envelope-")
        assert (await run.final_state()).is_completed()
        assert run.written() == ["slack-socket"]
        final = await message_for(fake, review_id, lambda m: not buttons(m))
        assert "*Approved*" in shown(final)
        assert fake.app_token not in socket_server.stderr()


def replies_about(fake: SlackFake, user: str, review_id: str) -> list[str]:
    return [
        c.params["text"]
        for c in fake.calls_to("chat.postEphemeral")
        if c.status == 200 and c.params.get("user") == user and f"`{review_id}`" in c.params["text"]
    ]


async def until(probe: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_ten_concurrent_copies_of_one_click_are_sent_once(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    policy = {
        "reviewers": ["slack:UALICE", "slack:UBOB"],
        "approvals_required": 2,
        "slack_channel": "CREVIEWS",
    }
    run = start(tmp_path, "slack-copies", policy)
    review_id = (await wait_until_waiting("slack-copies")).record.request.id
    message = await message_for(fake, review_id)
    body, headers = signed_interaction(SECRET, block_action("UALICE", message, APPROVE))

    answers = await asyncio.gather(*(http.post(server.url, content=body, headers=headers) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    await until(lambda: len(replies_about(fake, "UALICE", review_id)) >= 10, "not every copy was answered")
    told_ = replies_about(fake, "UALICE", review_id)
    assert len([t for t in told_ if "was sent" in t]) == 1, told_
    status = await wait_until_waiting("slack-copies", approvals=1)
    # One decision reached the run: the others were stopped at the server's queue, not at the gate.
    assert status.record.decisions_seen == 1 and [v.reviewer for v in status.record.votes] == ["slack:UALICE"]

    assert (
        await post_interaction(http, server.url, block_action("UBOB", message, APPROVE))
    ).status_code == 200
    assert (await run.final_state()).is_completed()
    assert run.written() == ["slack-copies"]


async def test_a_signed_button_clicked_outside_the_reviews_own_message_decides_nothing(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    run = start(tmp_path, "slack-copied", {"reviewers": ["slack:UALICE"], "slack_channel": "CREVIEWS"})
    review_id = (await wait_until_waiting("slack-copied")).record.request.id
    message = await message_for(fake, review_id)

    elsewhere = block_action("UALICE", message, APPROVE, channel="COTHER")
    other_message = block_action("UALICE", {**message, "ts": "1700000000.999999"}, APPROVE)
    for click in (elsewhere, other_message):
        assert (await post_interaction(http, server.url, click)).status_code == 200
        await until(
            lambda: any("not on review" in t for t in replies_about(fake, "UALICE", review_id)),
            "the copied button's click was not refused",
        )
        status = await get_review_status(review_id)
        assert status.waiting and status.record.votes == [] and status.record.decisions_seen == 0
        fake.clear()

    # Refused for a reason of its own, the click does not stand in the way of the genuine one.
    assert (
        await post_interaction(http, server.url, block_action("UALICE", message, APPROVE))
    ).status_code == 200
    assert (await run.final_state()).is_completed()
    assert run.written() == ["slack-copied"]


async def test_replies_go_through_response_url_where_the_bot_is_not_in_the_channel(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    fake.not_in_channels.add("CSHARED")
    run = start(tmp_path, "slack-hook", {"reviewers": ["slack:UALICE"], "slack_channel": "CSHARED"})
    review_id = (await wait_until_waiting("slack-hook")).record.request.id
    message = await message_for(fake, review_id)

    click = block_action("UALICE", message, APPROVE, response_url=fake.response_url("alice-hook"))
    assert (await post_interaction(http, server.url, click)).status_code == 200
    reply = await fake.wait_for(
        "response_url", lambda c: c.params["hook"] == "alice-hook" and "was sent" in c.params["text"]
    )
    assert reply.params["response_type"] == "ephemeral" and reply.params["replace_original"] is False
    # Tried first, refused by Slack, then the response_url: one reply, where the clicker is.
    assert [c for c in fake.calls_to("chat.postEphemeral") if c.params.get("channel") == "CSHARED"]
    assert (await run.final_state()).is_completed()


async def test_a_timestamp_that_is_no_number_is_a_bad_request(
    server: Server, http: httpx.AsyncClient
) -> None:
    body, headers = signed_interaction(SECRET, {"type": "block_actions"})
    for stamp in ("soon", "12.5", "-1", ""):
        response = await http.post(
            server.url, content=body, headers={**headers, "X-Slack-Request-Timestamp": stamp}
        )
        assert response.status_code == 400, stamp
    assert "Traceback" not in server.stderr()


async def test_a_500_member_group_gets_one_dm_each_and_every_one_is_updated_in_place(
    prefect_api: str, server: Server, fake: SlackFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    members = [f"UM{i:04d}" for i in range(500)]
    fake.group_members["SBIG"] = members
    run = start(tmp_path, "slack-big", {"reviewers": ["slack-group:SBIG"], "timeout": 600})
    review_id = (await wait_until_waiting("slack-big", timeout=120)).record.request.id
    dms = {f"D{m}" for m in members}

    def posted() -> list[SlackCall]:
        return [c for c in fake.calls_to("chat.postMessage") if c.params.get("channel") in dms]

    await until(lambda: len({c.params["channel"] for c in posted()}) == 500, "not every member got a DM", 120)
    first = [m for m in fake.messages() if m["channel"] in dms and f"Review {review_id}:" in m["text"]]
    assert len(first) == 500 and all(set(buttons(m)) == {APPROVE, REJECT} for m in first)

    # A member decides in their own DM; then every DM shows the outcome, rewritten where it is.
    mine = next(m for m in first if m["channel"] == "DUM0042")
    assert (
        await post_interaction(http, server.url, block_action("UM0042", mine, APPROVE))
    ).status_code == 200
    assert (await run.final_state(timeout=180)).is_completed()
    await until(
        lambda: all(not buttons(fake.message(m["channel"], m["ts"])) for m in first),
        "some DMs kept buttons",
        120,
    )
    for m in first:
        assert "*Approved*" in shown(fake.message(m["channel"], m["ts"]))
    assert len(posted()) == 500  # nothing posted twice
    updated = {(c.params["channel"], c.params["ts"]) for c in fake.calls_to("chat.update") if c.status == 200}
    assert {(m["channel"], m["ts"]) for m in first} <= updated
