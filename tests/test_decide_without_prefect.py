"""`review-gate approve|reject` with PREFECT_API_URL in the environment: no Prefect import, same outcome.

Each decision goes through the installed CLI in a new process, against the session's real Prefect
server, to a real gated run paused in this event loop; Python's own import log (PYTHONPROFILEIMPORTTIME)
says what the process imported. The same refusals are then asked of the Prefect path (`main` in
this process, where the API comes from Prefect's settings and not the environment): same text,
same exit code.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from gate_helpers import (
    IMPORT_LOG,
    imported,
    message,
    prefect_modules,
    run_cli,
    start_gated_write,
    wait_until_waiting,
)
from http_relay import serving
from prefect.client.schemas.objects import StateType

from prefect_review_gate.gates.cli import main
from prefect_review_gate.gates.reviews import get_review_status
from prefect_review_gate.gates.votes import ASSERTED

pytestmark = pytest.mark.anyio

POLICY: dict[str, Any] = {"reviewers": ["alice", "bob"], "timeout": 600}


async def test_approve_reaches_the_run_without_importing_prefect(prefect_api: str, tmp_path: Path) -> None:
    run = start_gated_write(tmp_path, "no-prefect-approve", POLICY)
    review_id = (await wait_until_waiting("no-prefect-approve")).record.request.id

    code, out, err = await run_cli(
        "approve", review_id, "--as", "alice", "--comment", "checked", api=prefect_api, extra_env=IMPORT_LOG
    )
    assert code == 0, message(err)
    assert "httpx" in imported(err) and prefect_modules(err) == []
    assert out == (
        f"Approved review {review_id} as alice (1/1 approvals).\n"
        f"The run resumes and commits its 1 action(s); `review-gate show {review_id}` shows the outcome.\n"
    )
    # The run took the decision up as from any other channel, and committed once.
    state = await run.final_state()
    assert state.type is StateType.COMPLETED
    assert run.written() == ["no-prefect-approve"]
    record = (await get_review_status(review_id)).record
    assert record.status.value == "approved"
    [vote] = record.votes
    assert (vote.reviewer, vote.comment, vote.channel, vote.verified) == ("alice", "checked", ASSERTED, False)


async def test_refusals_and_a_rejection_read_the_same_on_both_paths(
    prefect_api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process the API comes from Prefect's settings only: `main` takes the Prefect path.
    assert "PREFECT_API_URL" not in os.environ
    run = start_gated_write(tmp_path, "both-paths", POLICY, with_findings=True)
    review_id = (await wait_until_waiting("both-paths")).record.request.id

    async def both(*args: str) -> tuple[int, str]:
        code, out, err = await run_cli(*args, api=prefect_api, extra_env=IMPORT_LOG)
        assert prefect_modules(err) == [], args
        in_process = await anyio.to_thread.run_sync(main, list(args))
        captured = capsys.readouterr()
        assert (in_process, captured.out, captured.err) == (code, out, message(err)), args
        return code, message(err)

    refusals = [
        (("approve", review_id, "--as", "mallory"), 1, "mallory is not a reviewer this policy lists"),
        (("approve", review_id, "--as", "agent:test"), 1, "the requester may not decide its own request"),
        (("approve", review_id, "--as", "alice"), 2, "blocking finding(s): approving needs an override"),
        (("reject", "no-such-id", "--as", "bob", "--reason", "x"), 2, "no review with id 'no-such-id'"),
        (("reject", review_id, "--as", "bob", "--reason", "  "), 2, "--reason must not be empty"),
    ]
    for args, expected_code, says in refusals:
        code, err = await both(*args)
        assert code == expected_code and says in err and err.count("\n") == 1, (args, err)
    assert (await get_review_status(review_id)).waiting  # nothing refused reached the run

    code, out, err = await run_cli(
        "reject",
        review_id,
        "--as",
        "bob",
        "--reason",
        "the 400% is invented",
        api=prefect_api,
        extra_env=IMPORT_LOG,
    )
    assert code == 0 and prefect_modules(err) == [], message(err)
    assert out == (
        f"Rejected review {review_id} as bob: the 400% is invented\n"
        "The run ends in state Rejected and commits none of its 1 action(s).\n"
    )
    state = await run.final_state()
    assert state.type is StateType.CANCELLED and state.name == "Rejected"
    assert run.written() == []

    code, err = await both("approve", review_id, "--as", "alice", "--override-reason", "checked")
    assert code == 1 and f"review {review_id} is already decided: rejected" in err


async def test_without_prefect_api_url_the_profile_names_the_api(prefect_api: str, tmp_path: Path) -> None:
    # Prefect's settings (here a profile) still work: that path imports Prefect to read them.
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(f'active = "gate"\n\n[profiles.gate]\nPREFECT_API_URL = "{prefect_api}"\n')
    run = start_gated_write(tmp_path, "profile-approve", POLICY)
    review_id = (await wait_until_waiting("profile-approve")).record.request.id

    code, out, err = await run_cli(
        "approve",
        review_id,
        "--as",
        "bob",
        api=None,
        extra_env={"PREFECT_PROFILES_PATH": str(profiles), **IMPORT_LOG},
    )
    assert code == 0, message(err)
    assert f"Approved review {review_id} as bob (1/1 approvals)." in out
    assert "prefect.settings" in imported(err)
    assert (await run.final_state()).type is StateType.COMPLETED
    assert run.written() == ["profile-approve"]


class AuthRelay(ThreadingHTTPServer):
    """A real HTTP hop in front of the Prefect API that wants basic auth, as a proxy in front of a
    server often does, and logs each request it forwards."""

    def __init__(self, upstream: str, auth_string: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream.rstrip("/")
        self.requests: list[tuple[str, str]] = []
        self.expected = "Basic " + base64.b64encode(auth_string.encode()).decode()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api"


class _Forward(BaseHTTPRequestHandler):
    server: AuthRelay

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("authorization") != self.server.expected:
            self._answer(401, b'{"detail": "Unauthorized"}', "application/json")
            return
        path = self.path.removeprefix("/api")
        self.server.requests.append((self.command, path))
        headers = {"content-type": self.headers.get("content-type", "application/json")}
        answer = httpx.request(self.command, self.server.upstream + path, content=body, headers=headers)
        self._answer(answer.status_code, answer.content, answer.headers.get("content-type", ""))

    do_GET = do_POST = do_PATCH = _forward

    def _answer(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def auth_relay(prefect_api: str) -> Iterator[AuthRelay]:
    with serving(AuthRelay(prefect_api, "reviewer:s3cret")) as relay:
        yield relay


async def test_the_auth_string_is_sent_and_the_record_is_read_once_before_the_resume(
    auth_relay: AuthRelay, tmp_path: Path
) -> None:
    run = start_gated_write(tmp_path, "behind-auth", POLICY)
    review_id = (await wait_until_waiting("behind-auth")).record.request.id

    code, out, err = await run_cli("approve", review_id, "--as", "alice", api=auth_relay.url)
    assert code == 2 and out == "" and "answered 401 Unauthorized" in err, err
    assert auth_relay.requests == []

    code, out, err = await run_cli(
        "approve",
        review_id,
        "--as",
        "alice",
        api=auth_relay.url,
        extra_env={"PREFECT_API_AUTH_STRING": "reviewer:s3cret", **IMPORT_LOG},
    )
    assert code == 0 and prefect_modules(err) == [], message(err)
    assert (await run.final_state()).type is StateType.COMPLETED
    assert run.written() == ["behind-auth"]
    # Before the resume: the record once (the early checks and the decision rule judge the same
    # read) and the run's state once. After it, only reads of the record until the run took it up.
    load, states = ("POST", "/artifacts/latest/filter"), ("POST", "/flow_runs/filter")
    resume = ("POST", f"/flow_runs/{run_flow_run_id(review_id, auth_relay)}/resume")
    sent = auth_relay.requests.index(resume)
    assert auth_relay.requests[:sent] == [load, states]
    assert set(auth_relay.requests[sent + 1 :]) == {load}


def run_flow_run_id(review_id: str, relay: AuthRelay) -> str:
    answer = httpx.post(
        f"{relay.upstream}/artifacts/latest/filter",
        json={"artifacts": {"key": {"any_": [f"review-gate-{review_id}"]}}, "limit": 1},
    )
    return str(answer.json()[0]["data"]["request"]["flow_run_id"])


def auth_in_profile(tmp_path: Path) -> dict[str, str]:
    """The environment of a reviewer whose auth string is only in their Prefect profile."""
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "gate"\n\n[profiles.gate]\nPREFECT_API_AUTH_STRING = "reviewer:s3cret"\n')
    return {"PREFECT_PROFILES_PATH": str(profiles)}


async def test_credentials_kept_in_the_profile_still_work_with_the_url_in_the_environment(
    auth_relay: AuthRelay, tmp_path: Path
) -> None:
    # PREFECT_API_URL exported, the auth string only in the profile: the plain request gets a 401,
    # which stored nothing, and the decision goes through Prefect's settings instead, as before.
    run = start_gated_write(tmp_path, "auth-in-profile", POLICY)
    review_id = (await wait_until_waiting("auth-in-profile")).record.request.id

    code, out, err = await run_cli(
        "approve",
        review_id,
        "--as",
        "alice",
        api=auth_relay.url,
        extra_env=auth_in_profile(tmp_path),
    )
    assert code == 0, err
    assert f"Approved review {review_id} as alice (1/1 approvals)." in out
    assert (await run.final_state()).type is StateType.COMPLETED
    assert run.written() == ["auth-in-profile"]


async def test_pending_and_show_find_credentials_kept_in_the_profile(
    auth_relay: AuthRelay, tmp_path: Path
) -> None:
    # The same 401 -> profile fall-back for the read-only commands: before it, `pending` stopped at
    # the 401 while `approve` went on through the profile.
    run = start_gated_write(tmp_path, "listed-via-profile", POLICY)
    review_id = (await wait_until_waiting("listed-via-profile")).record.request.id
    in_profile = auth_in_profile(tmp_path)

    code, out, err = await run_cli("pending", "--json", api=auth_relay.url, extra_env=in_profile)
    assert code == 0, err
    assert review_id in out
    code, out, err = await run_cli("show", review_id, api=auth_relay.url, extra_env=in_profile)
    assert code == 0 and review_id in out, err

    code, out, err = await run_cli("pending", api=auth_relay.url)
    assert code == 2 and "answered 401 Unauthorized" in err, err  # nowhere else to look: said, not hidden

    code, out, err = await run_cli(
        "approve", review_id, "--as", "alice", api=auth_relay.url, extra_env=in_profile
    )
    assert code == 0, err
    assert (await run.final_state()).type is StateType.COMPLETED
    assert run.written() == ["listed-via-profile"]
