"""Debian's chromium for the Prefect UI tests, driven by Playwright through `executable_path`.

A developer without chromium (or the `playwright` package) gets a skip that says what to install;
CI sets REVIEW_GATE_REQUIRE_BROWSER=1 (and installs chromium), where a missing browser fails the
test instead. `playwright install` is never needed. Screenshots are written only when
REVIEW_GATE_SCREENSHOTS names a folder (`make screenshots` points it at docs/images), so a test run
never rewrites the README's images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("REVIEW_GATE_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags chromium keeps dialling Google's hosts, which this
# machine's closed network refuses.
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _missing() -> str:
    if not Path(CHROMIUM).exists():
        return f"no chromium at {CHROMIUM} (apt-get install chromium, or set REVIEW_GATE_CHROMIUM)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return ""


def require_browser() -> None:
    """Skip (locally) or fail (under REVIEW_GATE_REQUIRE_BROWSER=1) when the browser is missing."""
    missing = _missing()
    if not missing:
        return
    if os.environ.get("REVIEW_GATE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"REVIEW_GATE_REQUIRE_BROWSER=1 but {missing}")
    pytest.skip(missing)


def screenshot_path(name: str) -> Path | None:
    """Where to save screenshot `name`, or None when no screenshots were asked for."""
    folder = os.environ.get("REVIEW_GATE_SCREENSHOTS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder) / name


def save_screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Save a sync Playwright page's screenshot when screenshots were asked for."""
    path = screenshot_path(name)
    if path is not None:
        page.screenshot(path=str(path), full_page=full_page)
