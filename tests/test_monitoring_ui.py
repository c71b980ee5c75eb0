"""The monitoring views in the real Prefect UI, in headless Chromium: the waiting-reviews link lists a
paused review's run, the report artifact shows its SVG charts (the UI's sanitizer keeps them), and
the automations page lists the three ready-made automations.

Chromium and screenshots as tests/browser.py says: skipped locally without Debian's chromium,
failed in CI; REVIEW_GATE_SCREENSHOTS=DIR saves the README's screenshots there (docs/images).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from prefect_review_gate.gates.ui_links import WAITING_REVIEWS_PATH
from tests.browser import ARGS, CHROMIUM, require_browser, screenshot_path

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """`prefect server start` with its UI (the tests' session server serves no UI)."""
    from prefect_review_gate.flows.common.local_server import LocalPrefectServer

    with LocalPrefectServer(tmp_path_factory.mktemp("ui") / "prefect") as server:
        yield server


async def test_the_waiting_link_the_report_and_the_automations_in_the_ui(
    ui_server: Any, tmp_path: Path
) -> None:
    require_browser()
    from playwright.async_api import async_playwright
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_review_gate.flows.report import REPORT_KEY, review_gate_report
    from prefect_review_gate.gates.automations import apply_automations, resolve_block
    from prefect_review_gate.gates.reviews import decide
    from prefect_review_gate.gates.votes import Outcome
    from tests.gate_helpers import review_of_run
    from tests.monitoring_helpers import make_reviews, monitored_write

    with temporary_settings({PREFECT_API_URL: ui_server.api_url}):
        await make_reviews(tmp_path, ui_server.api_url)
        line = "waits-" + uuid.uuid4().hex[:6]
        policy = {"reviewers": ["alice"], "timeout": 3600}
        run = asyncio.ensure_future(
            monitored_write(str(tmp_path / "out.txt"), line, "agent:closer", policy, True, return_state=True)
        )
        waiting = await review_of_run(run, lambda p: p.record.request.actions[0]["line"] == line, line)
        await review_gate_report(since_hours=24)
        await CustomWebhookNotificationBlock(name="reviewers", url="http://127.0.0.1:9/hook").save(
            "reviewers"
        )
        async with get_client() as client:
            block_id = await resolve_block(client, "custom-webhook/reviewers")
            await apply_automations(client, block_id, timedelta(hours=24))
            flow_run = await client.read_flow_run(waiting.record.request.flow_run_id)
            [report] = await client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[REPORT_KEY]))
            )
        try:
            async with async_playwright() as driver:
                browser = await driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await _check_pages(page, ui_server.ui_url, flow_run.name, str(report.latest_id))
                await browser.close()
        finally:
            await decide(waiting.record.request.id, Outcome.REJECTED, "alice", comment="screenshot taken")
            await asyncio.wait_for(run, 60)


async def _check_pages(page: Any, ui: str, waiting_run: str, report_id: str) -> None:
    await page.goto(ui + WAITING_REVIEWS_PATH)
    await page.get_by_text(waiting_run).first.wait_for(timeout=30_000)
    if path := screenshot_path("monitoring-waiting.png"):
        await page.screenshot(path=str(path))

    await page.goto(f"{ui}/artifacts/artifact/{report_id}")
    chart = page.locator(".markdown-renderer svg rect")
    await chart.first.wait_for(timeout=30_000)
    assert await chart.count() >= 12  # two bars a row, six rows, for every agent
    assert "review(s)" in (await page.locator(".markdown-renderer svg text").first.text_content() or "")
    if path := screenshot_path("monitoring-report.png"):
        await page.screenshot(path=str(path), full_page=True)

    await page.goto(f"{ui}/automations")
    for name in ("review waiting too long", "fabrication alert", "delivery failed"):
        await page.get_by_text(f"review-gate: {name}").first.wait_for(timeout=30_000)
    if path := screenshot_path("monitoring-automations.png"):
        await page.screenshot(path=str(path))
