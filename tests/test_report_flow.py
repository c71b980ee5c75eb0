"""`review-gate-report` on a real Prefect API: its artifacts under their keys, a new version each
run, and each agent's fabrication rate (and alert above the threshold) as events."""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client

from prefect_review_gate.flows.report import (
    ALERT_EVENT,
    RATE_EVENT,
    REPORT_KEY,
    TABLE_KEY,
    review_gate_report,
)
from tests.monitoring_helpers import ALPHA, BETA, make_reviews

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[1]


async def _versions(key: str) -> list[dict[str, Any]]:
    async with get_client() as client:
        response = await client.request(
            "POST", "/artifacts/filter", json={"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC"}
        )
    found: list[dict[str, Any]] = response.json()
    return found


async def _events(name: str, resource: str, timeout: float = 30) -> list[dict[str, Any]]:
    """The events `name` about `resource`, once the server has stored at least one."""
    body = {
        "filter": {
            "event": {"name": [name]},
            "resource": {"id": [resource]},
            "any_resource": None,
        },
        "limit": 50,
    }
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with get_client() as client:
            response = await client.request("POST", "/events/filter", json=body)
        events: list[dict[str, Any]] = response.json()["events"]
        if events or asyncio.get_running_loop().time() > deadline:
            return events
        await asyncio.sleep(0.5)


async def test_the_report_publishes_its_artifacts_and_the_fabrication_events(
    prefect_api: str, tmp_path: Path
) -> None:
    tag = "-" + uuid.uuid4().hex[:6]
    await make_reviews(tmp_path, prefect_api, tag)
    alpha, beta = ALPHA + tag, BETA + tag
    before = len(await _versions(REPORT_KEY))

    figures = await review_gate_report(since_hours=1, fabrication_threshold=0.4, min_reviews=3)
    assert alpha in figures["fabrication_alerts"]  # 2 of 4 with a blocking finding: 50% > 40%
    assert beta not in figures["fabrication_alerts"]  # 1 of 3: 33%
    [row] = [g for g in figures["groups"] if g["agent"] == alpha]
    assert (row["requested"], row["with_blocking_findings"]) == (4, 2)

    reports = await _versions(REPORT_KEY)
    assert len(reports) == before + 1
    markdown = reports[0]["data"]
    assert reports[0]["type"] == "markdown"
    assert "## Per agent" in markdown and "<svg" in markdown and alpha in markdown
    assert "the address is new, checked" in markdown  # the override's reason
    # The SVG is one HTML block for the UI's markdown renderer: no blank line inside it.
    for chart in markdown.split("<svg")[1:]:
        assert "\n\n" not in chart.split("</svg>")[0]
    tables = await _versions(TABLE_KEY)
    rows = json.loads(tables[0]["data"])  # Prefect stores a table artifact's rows as JSON text
    [alpha_row] = [r for r in rows if r["agent"] == alpha]
    assert (alpha_row["requested"], alpha_row["blocked_by_policy"], alpha_row["overrides"]) == (4, 1, 1)

    await review_gate_report(since_hours=1)
    assert len(await _versions(REPORT_KEY)) == before + 2
    assert len(await _versions(TABLE_KEY)) == len(tables) + 1

    [rate] = (await _events(RATE_EVENT, f"review-gate.requester.{beta}"))[:1]
    assert rate["payload"]["reviews"] == 3 and rate["payload"]["above"] is False
    alerts = await _events(ALERT_EVENT, f"review-gate.requester.{alpha}")
    assert alerts and alerts[0]["payload"]["rate_percent"] == 50
    assert await _events(ALERT_EVENT, f"review-gate.requester.{beta}", timeout=2) == []


async def test_the_report_refuses_a_threshold_that_is_not_a_share(prefect_api: str) -> None:
    state = await review_gate_report(fabrication_threshold=50, return_state=True)
    assert state.is_failed()
    assert "fabrication_threshold" in str(await state.result(raise_on_failure=False))


def test_the_report_is_deployed_daily_with_parameters_the_flow_takes() -> None:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    [deployment] = [d for d in config["deployments"] if d["name"] == "review-gate-report"]
    assert deployment["entrypoint"] == "prefect_review_gate.flows.report.review_gate_report"
    assert [s["cron"] for s in deployment["schedules"]] == ["0 6 * * *"]
    accepted = set(inspect.signature(review_gate_report.fn).parameters)
    assert set(deployment["parameters"]) <= accepted
    review_gate_report.validate_parameters(deployment["parameters"])
