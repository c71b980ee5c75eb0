"""A Prefect server with CSRF protection on: the CLI's plain-httpx path and the gate still work.

With PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true the server refuses every POST without a token it
issued; `review-gate pending` and every decision (its resume is a plain POST) were refused with 403.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gate_helpers import run_cli
from http_relay import counting_relay
from server_process import PrefectServer

from prefect_review_gate.gates.review_api import ApiTarget, list_pending

pytestmark = pytest.mark.anyio
TESTS = Path(__file__).parent


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


def _gated_write_process(server: PrefectServer, out: Path) -> subprocess.Popen[bytes]:
    """The gated flow in a process of its own: this one's Prefect workers stay on the session's API."""
    code = (
        "import asyncio, sys, gate_helpers\n"
        "asyncio.run(gate_helpers.gated_write(sys.argv[1], 'behind-csrf', {'reviewers': ['alice'], "
        "'timeout': 600}))\n"
    )
    env = {**server.env(), "PREFECT_API_URL": server.api, "PREFECT_HOME": str(server.home / "flows")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    with (server.home / "flows.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-c", code, str(out)], env=env, stdout=log, stderr=log)


async def test_pending_and_a_decision_reach_a_server_that_wants_csrf_tokens(
    protected: PrefectServer, tmp_path: Path
) -> None:
    # The protection is on: a POST without a token is refused at the door.
    assert httpx.post(f"{protected.api}/flow_runs/filter", json={}).status_code == 403
    out = tmp_path / "side-effects.txt"
    flows = _gated_write_process(protected, out)
    try:
        target = ApiTarget(protected.api)
        for _ in range(300):  # the review's own listing is the code under test too
            waiting = [p for p in await list_pending(target) if p.waiting]
            if waiting or flows.poll() is not None:
                break
            await asyncio.sleep(0.2)
        assert waiting, (protected.home / "flows.log").read_text(errors="replace")[-2000:]
        review_id = waiting[0].record.request.id
        code, listed, err = await run_cli("pending", api=protected.api)
        assert code == 0, err
        assert review_id in listed
        code, _, err = await run_cli("approve", review_id, "--as", "alice", api=protected.api)
        assert code == 0, err
        assert await asyncio.to_thread(flows.wait, 90) == 0
    finally:
        if flows.poll() is None:
            flows.kill()
    assert out.read_text(encoding="utf-8").splitlines() == ["behind-csrf"]


async def test_no_token_is_asked_of_a_server_without_the_protection(prefect_api: str) -> None:
    with counting_relay(prefect_api) as (relay, seen):
        await list_pending(ApiTarget(relay))
    assert seen, "the listing went past the relay"
    assert not [path for _, path in seen if "csrf" in path], seen
