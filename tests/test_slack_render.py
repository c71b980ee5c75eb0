"""Slack pieces on their own: Block Kit within limits, escaping, button tokens, settings, the block,
group lookups and DMs against the Slack fake, and a cheap import."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from slack_fake import SlackFake

from prefect_review_gate.flows.forge.actions import PublishProposalFile
from prefect_review_gate.gates import Outcome, ReviewPolicy, ReviewRecord, ReviewRequest, ReviewStatus
from prefect_review_gate.gates.errors import DeliveryFailed
from prefect_review_gate.gates.rules import Ballot, refusal
from prefect_review_gate.gates.slack import SlackChannel, SlackReviewCredentials, configured_slack_channel
from prefect_review_gate.gates.slack.client import web_client
from prefect_review_gate.gates.slack.directory import ReviewerDirectory
from prefect_review_gate.gates.slack.locations import load_posted
from prefect_review_gate.gates.slack.render import review_blocks
from prefect_review_gate.gates.slack.settings import SlackSettings
from prefect_review_gate.gates.slack.signing import ButtonAction, sign_button, verify_button
from prefect_review_gate.validators import Finding, InputError, Severity

SECRET = "render-secret"


def record(actions: list[dict[str, Any]], findings: list[Finding] = (), **policy: Any) -> ReviewRecord:  # type: ignore[assignment]
    now = datetime.now(UTC)
    request = ReviewRequest(
        id="abc123def456",
        flow_run_id=uuid4(),
        flow_run_name="brisk-otter",
        requester="agent:forge",
        actions=actions,
        findings=list(findings),
        content_hash="0" * 64,
        policy=ReviewPolicy(reviewers=["slack:UALICE", "slack-group:SOPS"], **policy),
        created_at=now,
        deadline=now + timedelta(hours=1),
    )
    return ReviewRecord(request=request, updated_at=now)


def texts(blocks: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    for block in blocks:
        if "text" in block:
            yield block["type"], block["text"]["text"]
        for element in block.get("elements", []):
            text = element.get("text")
            yield element["type"], text["text"] if isinstance(text, dict) else text


def test_previews_show_what_each_action_does() -> None:
    actions = [
        {
            "kind": "email.send",
            "to": ["ceo@acme.example"],
            "cc": [],
            "subject": "Q3 numbers",
            "body": "Hello " * 30,
        },
        {"kind": "crm.update_deal", "deal_id": "D-7", "changes": {"stage": "won"}},
        {"kind": "release.publish", "artifact": "dist/app.whl", "sha256": "ab" * 32, "version": "1.2.3"},
        PublishProposalFile(
            client="Acme", name="acme-q3", folder="/srv/proposals", body="# Proposal\n\nWe propose..."
        ).model_dump(mode="json"),
    ]
    finding = Finding(
        code="unknown_recipient", severity=Severity.BLOCK, message="no such contact", evidence="CRM"
    )
    blocks = review_blocks(record(actions, [finding]), signing_secret=SECRET, flow_run_url="http://ui/runs/1")
    shown = json.dumps(blocks, ensure_ascii=False)
    sections = [text for kind, text in texts(blocks) if kind == "section"][1:]  # after the facts
    assert sections[0].splitlines() == [
        "1. *Send an e-mail* to ceo@acme.example",
        "• subject: Q3 numbers",
        ">" + " ".join(["Hello"] * 30),
    ]
    assert sections[1].splitlines() == ["2. *Update a CRM deal* `D-7`", '• stage: → "won"']
    assert sections[2].splitlines() == [
        "3. *Publish a release* `1.2.3`",
        "• artifact: `dist/app.whl`",
        "• sha256: `" + "ab" * 32 + "`",
    ]
    # A flow's own kind (FORGE's) is shown as it describes itself, not as a dump of its fields.
    assert sections[3].splitlines() == [
        "4. *Publish a client proposal to a folder* `/srv/proposals/acme-q3.md`",
        "• for: Acme",
        "># Proposal We propose...",
    ]
    assert "*Blocking* (1)" in shown and "sources say: _CRM_" in shown
    assert "<http://ui/runs/1|brisk-otter>" in shown and "<@UALICE>, <!subteam^SOPS>" in shown
    [actions_block] = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions_block["elements"]] == [
        "review_gate_override",
        "review_gate_reject",
    ]


def test_huge_reviews_stay_within_block_kit_limits_and_point_to_prefect() -> None:
    actions = [
        {"kind": "email.send", "to": [f"p{i}@x.example"] * 50, "subject": "s" * 500, "body": "b" * 10_000}
        for i in range(120)
    ]
    findings = [Finding(code="c", severity=Severity.WARN, message="m" * 2000, evidence="e" * 2000)] * 40
    blocks = review_blocks(record(actions, findings, approvals_required=2), signing_secret=SECRET)
    assert len(blocks) <= 50
    assert blocks[-1]["type"] == "actions"  # the buttons survive the cut
    for kind, text in texts(blocks):
        limit = {"header": 150, "button": 75, "section": 3000}.get(kind, 2000)
        assert len(text) <= limit, (kind, len(text))
    shown = json.dumps(blocks)
    assert "more action(s)" in shown and "review-gate-abc123def456-review" in shown


def test_agent_text_cannot_mention_everyone_or_disguise_links() -> None:
    action = {
        "kind": "email.send",
        "to": ["a@b.example"],
        "subject": "<!channel> hi",
        "body": "<http://evil|bank> &",
    }
    shown = json.dumps(review_blocks(record([action]), signing_secret=SECRET))
    assert "<!channel>" not in shown and "<http://evil" not in shown
    assert "&lt;!channel&gt;" in shown and "&amp;" in shown


def test_closed_reviews_show_the_outcome_and_no_buttons() -> None:
    closed = record([{"kind": "git.push", "branch": "main"}]).model_copy(
        update={"status": ReviewStatus.REJECTED, "note": "Rejected by slack:UALICE: no."}
    )
    blocks = review_blocks(closed, signing_secret=SECRET)
    assert not [b for b in blocks if b["type"] == "actions"]
    assert "*Rejected*" in json.dumps(blocks)


def test_each_version_of_the_buttons_has_its_own_block_id() -> None:
    first = record([{"kind": "git.push", "branch": "main"}])
    edited = first.model_copy(
        update={"request": first.request.model_copy(update={"round": 1, "content_hash": "1" * 64})}
    )
    ids = [
        next(b["block_id"] for b in review_blocks(r, signing_secret=SECRET) if b["type"] == "actions")
        for r in (first, edited)
    ]
    assert ids[0] != ids[1] and all(i.startswith("review_gate_abc123def456_") for i in ids)
    assert all(len(i) <= 255 for i in ids)  # Slack's limit for a block_id


def test_button_tokens_bind_review_content_and_action() -> None:
    value = sign_button(SECRET, "abc123", "f" * 64, ButtonAction.APPROVE)
    parsed = verify_button(SECRET, value)
    assert (parsed.review_id, parsed.content_hash, parsed.action) == (
        "abc123",
        "f" * 64,
        ButtonAction.APPROVE,
    )
    tampered = [
        value.replace("abc123", "abc124"),
        value.replace("f" * 64, "e" * 64),
        value.replace(".approve.", ".reject."),
        value[:-2],
        None,
        "",
    ]
    for bad in tampered:
        with pytest.raises(InputError):
            verify_button(SECRET, bad)
    with pytest.raises(InputError):
        verify_button("another-secret", value)


def test_settings_come_from_the_environment_and_never_print_secrets() -> None:
    assert configured_slack_channel({}) is None
    with pytest.raises(InputError, match="SLACK_SIGNING_SECRET is needed"):
        configured_slack_channel({"SLACK_BOT_TOKEN": "xoxb-1"})
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s3cret",
        "REVIEW_GATE_SLACK_CHANNEL": "C9",
        "REVIEW_GATE_SLACK_API_URL": "http://127.0.0.1:1/api",
    }
    channel = configured_slack_channel(env)
    assert isinstance(channel, SlackChannel) and channel.default_channel == "C9"
    assert channel.client.base_url == "http://127.0.0.1:1/api/"
    settings = SlackSettings.from_env(env)
    assert "s3cret" not in repr(settings) and "xoxb-1" not in str(settings)
    with pytest.raises(InputError, match="REVIEW_GATE_SLACK_SWEEP_SECONDS must be a number"):
        SlackSettings.from_env({"REVIEW_GATE_SLACK_SWEEP_SECONDS": "soon"})


def test_the_block_holds_secrets_and_describes_every_field() -> None:
    block = SlackReviewCredentials(bot_token="xoxb-2", signing_secret="s", channel="C1")
    for name, field in SlackReviewCredentials.model_fields.items():
        assert field.description, name
    assert "xoxb-2" not in repr(block)
    assert isinstance(block.get_channel(), SlackChannel)
    assert block.settings().api_url == "https://slack.com/api/"


def test_importing_the_package_loads_no_slack_client_and_no_prefect() -> None:
    code = (
        "import sys, prefect_review_gate.gates.slack as s; "
        "heavy = ('prefect', 'slack_sdk', 'slack_bolt', 'aiohttp'); "
        "print(','.join(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_group_members_may_decide_as_distinct_identities_but_never_as_the_requester() -> None:
    request = record([{"kind": "git.push", "branch": "main"}]).request
    policy = ReviewPolicy(reviewers=["slack-group:SOPS", "alice"], approvals_required=2)
    review = ReviewRecord(
        request=request.model_copy(update={"policy": policy}), updated_at=request.created_at
    )
    now = request.created_at

    def ballot(reviewer: str, group: str) -> Ballot:
        return Ballot(Outcome.REJECTED, reviewer, request.content_hash, member_of=group, verified_by="slack")

    assert refusal(review, ballot("slack:UCAROL", "slack-group:SOPS"), now) is None
    as_requester = review.model_copy(
        update={"request": review.request.model_copy(update={"requester": "slack:UCAROL"})}
    )
    assert refusal(as_requester, ballot("slack:UCAROL", "slack-group:SOPS"), now) is not None
    assert refusal(review, ballot("slack:UCAROL", "slack-group:SOTHER"), now) is not None
    assert refusal(review, ballot("slack:UCAROL", "alice"), now) is not None


@pytest.mark.anyio
async def test_group_lookups_are_cached_and_fail_closed() -> None:
    with SlackFake() as fake:
        fake.group_members["SOPS"] = ["UCAROL"]
        now = [0.0]
        directory = ReviewerDirectory(
            web_client(fake.token, fake.url, retries=0), ttl_seconds=60, clock=lambda: now[0]
        )
        request = record([{"kind": "git.push", "branch": "main"}]).request
        assert await directory.identity("UCAROL", request) == ("slack:UCAROL", "slack-group:SOPS")
        assert await directory.identity("UALICE", request) == ("slack:UALICE", "")
        # Resolution only: Mallory is in no listed group, and the decision rule refuses her.
        assert await directory.identity("UMALLORY", request) == ("slack:UMALLORY", "")
        # One lookup: Alice is listed by id, and Mallory's check reads the cached members.
        assert len(fake.calls_to("usergroups.users.list")) == 1
        now[0] = 61
        fake.down = True
        with pytest.raises(DeliveryFailed, match=r"usergroups\.users\.list failed"):
            await directory.identity("UCAROL", request)


@pytest.mark.anyio
async def test_without_a_channel_reviewers_get_direct_messages(prefect_api: str) -> None:
    with SlackFake() as fake:
        fake.group_members["SOPS"] = ["UCAROL", "UDAVE"]
        channel = SlackChannel(web_client(fake.token, fake.url, retries=0), signing_secret=SECRET)
        review = record([{"kind": "git.push", "branch": "main"}])
        await channel.notify(review)
        opened = sorted(c.params["users"] for c in fake.calls_to("conversations.open"))
        assert opened == ["UALICE", "UCAROL", "UDAVE"]
        posted = await load_posted(review.request.id)
        assert posted is not None and sorted(m.channel for m in posted.messages) == [
            "DUALICE",
            "DUCAROL",
            "DUDAVE",
        ]
        closed = review.model_copy(update={"status": ReviewStatus.EXPIRED, "note": "Nobody decided."})
        await channel.update(closed)
        assert len(fake.calls_to("chat.update")) == 3
        fake.down = True
        with pytest.raises(DeliveryFailed, match=r"chat\.update failed: service_unavailable"):
            await channel.update(closed)


def test_the_slack_surface_is_pinned() -> None:
    import prefect_review_gate.gates.slack as slack

    assert sorted(slack.__all__) == [
        "ReviewApp",
        "SlackChannel",
        "SlackReviewCredentials",
        "SlackSettings",
        "configured_slack_channel",
        "create_app",
    ]
    for name in slack.__all__:
        assert getattr(slack, name) is not None


@pytest.mark.anyio
async def test_withdraw_takes_the_ask_back_and_forgets_the_message(prefect_api: str) -> None:
    with SlackFake() as fake:
        channel = SlackChannel(
            web_client(fake.token, fake.url, retries=0), signing_secret=SECRET, channel="C1"
        )
        review = record([{"kind": "git.push", "branch": "main"}])
        review = review.model_copy(
            update={"request": review.request.model_copy(update={"id": "withdraw0001"})}
        )
        await channel.notify(review)
        [posted] = fake.messages()
        edited = review.model_copy(update={"note": "alice edited the content."})
        await channel.withdraw(edited)
        message = fake.message(posted["channel"], posted["ts"])
        assert "withdrawn" in message["text"] and not [b for b in message["blocks"] if b["type"] == "actions"]
        assert await load_posted("withdraw0001") is None


@pytest.mark.anyio
async def test_a_lookup_that_fails_or_finds_posting_unfinished_never_posts_again(prefect_api: str) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_review_gate.gates.slack.locations import PostedReview, save_posted

    with SlackFake() as fake:
        channel = SlackChannel(
            web_client(fake.token, fake.url, retries=0), signing_secret=SECRET, channel="C1"
        )
        review = record([{"kind": "git.push", "branch": "main"}])
        review = review.model_copy(
            update={"request": review.request.model_copy(update={"id": "lookup000001"})}
        )
        await channel.notify(review)
        assert len(fake.calls_to("chat.postMessage")) == 1

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = sock.getsockname()[1]
        unreachable = temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{closed}/api"})
        with unreachable, pytest.raises(DeliveryFailed, match="could not read where the Slack message is"):
            await channel.update(review)

        # Posting began (the marker is saved first) but where the messages went was never saved.
        await save_posted(PostedReview(review_id="lookup000001", complete=False))
        with pytest.raises(DeliveryFailed, match="neither updated nor posted again"):
            await channel.update(review)
        assert len(fake.calls_to("chat.postMessage")) == 1 and fake.calls_to("chat.update") == []
