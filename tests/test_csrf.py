"""A Prefect server with CSRF protection on: the CLI's plain-httpx path and the gate still work.

With PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true the server refuses every POST without a token it
issued; `review-gate pending` and every decision (its resume is a plain POST) were refused with 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gate_helpers import run_cli, start_gated_write, wait_until_waiting
from http_relay import counting_relay
from prefect.settings import PREFECT_API_URL, temporary_settings
from server_process import PrefectServer

from prefect_review_gate.gates.review_api import ApiTarget, list_pending

pytestmark = pytest.mark.anyio
POLICY = {"reviewers": ["alice"], "timeout": 600}


@pytest.fixture
def protected(tmp_path: Path) -> Iterator[PrefectServer]:
    home = tmp_path / "csrf-server"
    home.mkdir()
    server = PrefectServer(home, {"PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_pending_and_a_decision_reach_a_server_that_wants_csrf_tokens(
    protected: PrefectServer, tmp_path: Path
) -> None:
    # The protection is on: a POST without a token is refused at the door.
    assert httpx.post(f"{protected.api}/flow_runs/filter", json={}).status_code == 403
    with temporary_settings(updates={PREFECT_API_URL: protected.api}):
        started = start_gated_write(tmp_path, "behind-csrf", POLICY)
        review_id = (await wait_until_waiting("behind-csrf")).record.request.id
        code, out, err = await run_cli("pending", api=protected.api)
        assert code == 0, err
        assert review_id in out
        code, out, err = await run_cli("approve", review_id, "--as", "alice", api=protected.api)
        assert code == 0, err
        state = await started.final_state(90)
    assert state.is_completed(), state
    assert started.written() == ["behind-csrf"]


async def test_no_token_is_asked_of_a_server_without_the_protection(prefect_api: str) -> None:
    with counting_relay(prefect_api) as (relay, seen):
        await list_pending(ApiTarget(relay))
    assert seen, "the listing went past the relay"
    assert not [path for _, path in seen if "csrf" in path], seen
