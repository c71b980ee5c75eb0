"""The capture command, run as a real process against the Messages API fake: one command, a fixture out."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

from anthropic_fake import EXAMPLE, OFFLINE_KEY, MessagesFake, Reply, recorded

from prefect_review_gate.flows.common.offline_model import load_recorded
from prefect_review_gate.flows.forge.agent import build_request, document_blocks
from prefect_review_gate.flows.forge.capture import strip_secrets
from prefect_review_gate.flows.forge.flow import load_sources


def _capture(fake: MessagesFake, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": OFFLINE_KEY}
    command = [sys.executable, "-m", "prefect_review_gate.flows.forge.capture", "--example", str(EXAMPLE)]
    return subprocess.run([*command, "--out", str(out)], env=env, capture_output=True, text=True, timeout=120)


def test_one_command_records_the_reply_through_the_sdk_with_secrets_stripped(tmp_path: Path) -> None:
    reply = copy.deepcopy(recorded())
    # A reply that echoes a key (the model quoting its prompt, a log line) must not carry it into git.
    reply["content"][0]["text"] += f"Debug: {OFFLINE_KEY} and sk-ant-api03-AbC_dEf-123\n\n"
    with MessagesFake(Reply.message(reply)) as fake:
        done = _capture(fake, tmp_path / "captured.json")

    assert done.returncode == 0, done.stderr
    [request] = fake.message_requests()
    assert request.body["stream"] is True  # through the SDK's streaming call, like a run
    sources = load_sources(str(EXAMPLE / "sources"))
    expected = build_request(
        (EXAMPLE / "brief.md").read_text(), "Brightwater Logistics", document_blocks(sources)
    )
    assert request.body["tools"] == expected["tools"] and request.body["messages"] == expected["messages"]

    written = (tmp_path / "captured.json").read_text()
    assert OFFLINE_KEY not in written and "sk-ant-" not in written and "[redacted]" in written
    captured = load_recorded(tmp_path / "captured.json")  # the demo and the tests can replay it
    assert captured["content"][1:] == reply["content"][1:]
    meta = json.loads((tmp_path / "captured.meta.json").read_text())
    assert meta["request_id"] == fake.request_ids[0] and meta["usage"]["input_tokens"] == 7412
    # What to watch on a first run: the request id, the usage and its cost, the citation findings.
    assert fake.request_ids[0] in done.stdout
    assert "7412 input, 871 output" in done.stdout and "(estimate)" in done.stdout
    assert "citation findings: 2" in done.stdout and "uncited_number" in done.stdout


def test_an_api_error_is_said_and_nothing_is_written(tmp_path: Path) -> None:
    with MessagesFake(Reply.error(400, "invalid_request_error", "messages: too many documents")) as fake:
        done = _capture(fake, tmp_path / "captured.json")

    assert done.returncode == 1
    assert "400 invalid_request_error: messages: too many documents" in done.stderr
    assert fake.request_ids[0] in done.stderr
    assert not (tmp_path / "captured.json").exists()


def test_strip_secrets_replaces_the_key_and_anything_shaped_like_one() -> None:
    assert strip_secrets("a secret-value b sk-ant-xyz_1 c", ["secret-value"]) == "a [redacted] b [redacted] c"
