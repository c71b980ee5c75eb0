"""The demo's Prefect server runs as users run theirs: with its services, so events are stored."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from prefect_review_gate.flows.common.local_server import LocalPrefectServer


def test_the_demo_server_stores_events_for_the_event_feed(tmp_path: Path) -> None:
    event = {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": "review_gate.requested",
        "resource": {"prefect.resource.id": "review-gate.review.abc123def456"},
    }
    with LocalPrefectServer(tmp_path / "prefect") as server:
        httpx.post(f"{server.api_url}/events", json=[event], timeout=10).raise_for_status()
        body = {"filter": {"event": {"name": ["review_gate.requested"]}}, "limit": 10}
        deadline, names = time.monotonic() + 30, []
        while time.monotonic() < deadline and not names:
            found = httpx.post(f"{server.api_url}/events/filter", json=body, timeout=10).json()
            names = [e["event"] for e in found.get("events", [])]
            time.sleep(0.5)
    assert names == ["review_gate.requested"]


def test_the_printed_link_opens_the_ui_that_shows_the_review_above_the_form(tmp_path: Path) -> None:
    server = LocalPrefectServer(tmp_path / "prefect")
    assert server.flow_run_url("1234") == f"http://127.0.0.1:{server.port}/v2/runs/flow-run/1234"
