"""Real Chromium (Debian's package), driven by Playwright.

Without Chromium these tests skip and say why; with TELEMETRY_REQUIRE_BROWSER=1 (set by
.ci/run) they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRE = os.environ.get("TELEMETRY_REQUIRE_BROWSER") == "1"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium per test module.

    Not per session: Playwright's sync API keeps its event loop registered as the
    thread's running loop until it stops, and async tests that ran after it would fail.
    """
    if CHROMIUM is None:
        message = "browser tests need Chromium: apt-get install chromium"
        if REQUIRE:
            pytest.fail(message + " (TELEMETRY_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
