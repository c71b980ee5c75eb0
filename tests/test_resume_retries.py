"""`resume_with` against a Prefect API that is briefly busy (SQLite's "database is locked" is a 503).

The API is a small real HTTP server on port 0: it answers the first resumes 503, then accepts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import uuid4

import httpx
import pytest
from gate_helpers import run_cli
from http_relay import serving
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_review_gate.gates.decision import Outcome, ReviewDecision
from prefect_review_gate.gates.policy import ReviewPolicy
from prefect_review_gate.gates.request import ReviewRequest
from prefect_review_gate.gates.waiting import _expire_at_deadline, resume_with

pytestmark = pytest.mark.anyio


class BusyApi(ThreadingHTTPServer):
    def __init__(self, busy: int, status: int = 503) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.busy, self.status, self.calls = busy, status, 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api"


class _Handler(BaseHTTPRequestHandler):
    server: BusyApi

    def do_GET(self) -> None:  # the CSRF token: "this server has none", as Prefect's client reads it
        self._answer(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.calls += 1
        if not self.path.endswith("/resume") or self.server.calls <= self.server.busy:
            self._answer(self.server.status if self.path.endswith("/resume") else 404, {"detail": "busy"})
        else:
            self._answer(200, {"state": None, "status": "ACCEPT", "details": {"type": "accept_details"}})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def busy_three_times() -> Iterator[BusyApi]:
    with serving(BusyApi(busy=3)) as api:
        yield api


@pytest.fixture
def always_conflicting() -> Iterator[BusyApi]:
    with serving(BusyApi(busy=100, status=409)) as api:
        yield api


DECISION = ReviewDecision(outcome=Outcome.APPROVED, reviewer="alice", content_hash="0" * 64)


async def test_a_busy_api_is_retried_at_once_not_after_prefects_backoff(
    busy_three_times: BusyApi,
) -> None:
    began = time.monotonic()
    with temporary_settings({PREFECT_API_URL: busy_three_times.url}):
        accepted, _ = await resume_with(uuid4(), DECISION)
    # Prefect's client would sleep about 2 s after each 503, 6 s or more for these four attempts.
    assert accepted and busy_three_times.calls == 4
    assert time.monotonic() - began < 5


async def test_other_errors_are_not_retried(always_conflicting: BusyApi) -> None:
    with temporary_settings({PREFECT_API_URL: always_conflicting.url}), pytest.raises(httpx.HTTPStatusError):
        await resume_with(uuid4(), DECISION)
    assert always_conflicting.calls == 1


class _BusyEverywhere(_Handler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.calls += 1
        self._answer(503, {"detail": "database is locked"})


async def test_a_cli_decision_on_an_api_that_stays_busy_exits_three_not_two() -> None:
    api = BusyApi(busy=0)
    api.RequestHandlerClass = _BusyEverywhere
    with serving(api):
        code, _, err = await run_cli(
            "approve",
            "0123456789ab",
            "--as",
            "alice",
            api=api.url,
            extra_env={"PREFECT_CLIENT_MAX_RETRIES": "1"},
        )
        assert code == 3, err
        assert "stayed busy through the retries and nothing was decided" in err and api.calls >= 2


async def test_the_in_process_deadline_timer_outlasts_a_busy_server() -> None:
    # Ten 503s outlast one resume's own retries (eight tries): the timer must keep trying until the
    # run takes its `expired` decision, not die with the first error and leave the review open.
    now = datetime.now(UTC)
    request = ReviewRequest(
        id="0123456789ab",
        flow_run_id=uuid4(),
        requester="agent:test",
        actions=[{"kind": "git.push", "branch": "main"}],
        content_hash="0" * 64,
        policy=ReviewPolicy(reviewers=["alice"]),
        created_at=now - timedelta(hours=1),
        deadline=now,
    )
    with serving(BusyApi(busy=10)) as api:
        with temporary_settings({PREFECT_API_URL: api.url}):
            await asyncio.wait_for(_expire_at_deadline(request.flow_run_id, request, 0), 30)
        assert api.calls == 11
