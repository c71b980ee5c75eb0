"""The Prefect UI as reviewers meet it: a real server with its UI, a paused run, Debian's chromium.

Skipped when no chromium is installed, unless REVIEW_GATE_REQUIRE_BROWSER=1 (CI sets it, and
installs chromium): then a missing browser fails the test. Playwright drives the system's chromium
through `executable_path`; `playwright install` is never needed. The screenshots the README shows
are written by this test, from this run, when REVIEW_GATE_SCREENSHOTS names a folder
(`make screenshots`); see tests/browser.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_review_gate.flows.common.local_server import LocalPrefectServer
from tests.browser import ARGS, CHROMIUM, require_browser, save_screenshot

TESTS = Path(__file__).resolve().parent
VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture
def browser_page() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser.new_page(viewport=VIEWPORT)
        finally:
            browser.close()


def _paused_run(api: str, child: subprocess.Popen[str], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    body = {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}}
    while time.monotonic() < deadline:
        assert child.poll() is None, "the gated run ended before it paused"
        runs = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json()
        if runs:
            return str(runs[0]["id"])
        time.sleep(0.3)
    raise AssertionError("the gated run never paused")


def _run_state(api: str, run_id: str) -> str:
    return str(httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"])


def _open_form(page: Any, link: str, expect: str, timeout: float = 60) -> Any:
    """The run's resume form, opened afresh until its description says `expect` (the next wait)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(link)
        page.get_by_text("Paused").first.wait_for()
        page.get_by_role("button", name="Open menu").last.click()
        page.get_by_role("menuitem", name="Resume").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Review ").first.wait_for()
        if dialog.get_by_text(expect).count() > 0:
            return dialog
        assert time.monotonic() < deadline, f"the form never said {expect!r}"
        time.sleep(1)


def _in_view(locator: Any) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]


def _choose(page: Any, dialog: Any, outcome: str) -> None:
    from playwright.sync_api import expect

    trigger = dialog.get_by_role("button", name="Select Decision")
    if outcome not in trigger.inner_text():  # choosing the chosen value again would clear it
        trigger.click()
        page.get_by_role("option", name=outcome, exact=True).click()
    expect(trigger).to_contain_text(outcome)


def _decide(page: Any, dialog: Any, outcome: str, name: str, reason: str) -> None:
    """Fill the form and resume; the server accepting it closes the dialog."""
    _choose(page, dialog, outcome)
    dialog.get_by_label("Your name").fill(name)
    dialog.get_by_label("Reason", exact=False).fill(reason)
    dialog.get_by_role("button", name="Resume").click()
    dialog.wait_for(state="hidden", timeout=20_000)


def _shot(page: Any, name: str) -> None:
    save_screenshot(page, name)


def test_a_review_is_seen_refused_and_approved_in_the_prefect_ui(browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    with LocalPrefectServer(tmp_path / "prefect") as server:
        env = server.env()
        env["PYTHONPATH"] = str(TESTS)
        out = tmp_path / "side-effects.txt"
        log = (tmp_path / "run.log").open("w")
        child = subprocess.Popen(
            [sys.executable, str(TESTS / "ui_gated_run.py"), str(out), "ui-line"],
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            run_id = _paused_run(server.api_url, child)
            link = server.flow_run_url(run_id)

            # The one link to every review waiting lists this run.
            name = httpx.get(f"{server.api_url}/flow_runs/{run_id}", timeout=10).json()["name"]
            page.goto(server.waiting_reviews_url)
            page.get_by_text(name).first.wait_for()
            _shot(page, "ui-waiting-reviews.png")

            page.goto(link)
            page.get_by_text("Paused").first.wait_for()
            page.get_by_text("cli-gated-write").first.wait_for()
            _shot(page, "ui-paused-run.png")

            # The link opens the run's page, and the review is the first thing in its form.
            dialog = _open_form(page, link, "(have 0)")
            assert _in_view(dialog.get_by_text("Actions: 1"))
            assert _in_view(dialog.get_by_text("Append a line to a file").first)
            assert _in_view(dialog.get_by_text("400% is in no source").first)
            assert _in_view(dialog.get_by_text("a number without a citation").first)
            for internal in ("Content Hash", "Member Of", "Proof", "Channel", "Decided At", "Edited Actions"):
                assert dialog.get_by_text(internal, exact=True).count() == 0, internal
            assert dialog.get_by_text("Required: 1 finding blocks.", exact=False).count() == 1
            _shot(page, "ui-resume-form.png")

            # An empty form is refused by the server, and the run keeps waiting.
            dialog.get_by_role("button", name="Resume").click()
            page.get_by_text("'outcome' is a required property").first.wait_for()
            dialog.get_by_text("Your name").first.scroll_into_view_if_needed()
            _shot(page, "ui-empty-form-refused.png")
            assert _run_state(server.api_url, run_id) == "PAUSED"

            # Approving with blocking findings and no reason is refused before the run wakes.
            _choose(page, dialog, "approved")
            dialog.get_by_label("Your name").fill("alice")
            dialog.get_by_role("button", name="Resume").click()
            page.get_by_text("Validation failed for field 'reason'").first.wait_for()

            # A name the policy does not list is refused the same way.
            dialog.get_by_label("Your name").fill("mallory")
            dialog.get_by_label("Reason", exact=False).fill("looks fine")
            dialog.get_by_role("button", name="Resume").click()
            page.get_by_text("'mallory' is not one of").first.wait_for()
            assert _run_state(server.api_url, run_id) == "PAUSED"

            _decide(page, dialog, "approved", "alice", "the 400% is a typo for 40%, fixed downstream")
            dialog = _open_form(page, link, "(have 1)")

            # A second approval from alice passes the form but not the gate's rule: the reopened
            # form says why it did not count.
            _decide(page, dialog, "approved", "alice", "approving again")
            dialog = _open_form(page, link, "did not count")
            assert dialog.get_by_text("alice already approved", exact=False).count() >= 1
            assert _in_view(dialog.get_by_text("Your last decision did not count.").first)
            _shot(page, "ui-refused-decision.png")

            _decide(page, dialog, "approved", "bob", "checked the sources: 40% is right, the draft says it")
            assert child.wait(60) == 0
            assert out.read_text(encoding="utf-8").splitlines() == ["ui-line"]
            assert _run_state(server.api_url, run_id) == "COMPLETED"

            page.goto(link)
            page.get_by_text("Completed").first.wait_for()
            page.get_by_role("tab", name="Artifacts").click()
            page.get_by_text("approved", exact=False).first.wait_for()
            _shot(page, "ui-review-artifacts.png")
            page.get_by_text("-review").first.click()
            page.get_by_text("Votes (2/2 approvals)").first.wait_for()
            _shot(page, "ui-review-card.png")
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait(30)
            log.close()
