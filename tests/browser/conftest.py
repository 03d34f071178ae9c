"""Real Chromium (Debian's package), driven by Playwright.

Without Chromium these tests skip and say why; with TELEMETRY_REQUIRE_BROWSER=1 (set by
.ci/run) they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.factories import make_settings
from tests.servers import LiveServer, run_live_server
from tests.signing_in import PASSWORD

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


FAST = {"refresh_interval": 0.2}


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop-sized page that records script errors and dialogs, and refuses every
    request beyond loopback (the dashboard must need no internet)."""
    context = browser.new_context(viewport={"width": 1000, "height": 800}, locale="en-US")
    context.outside = []
    context.route("**/*", lambda route: refuse_outside(context, route))
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    watch_policy(page)
    yield page
    assert context.outside == [], "the page asked for something beyond this machine"
    assert page.violations == [], "the Content-Security-Policy refused something"
    context.close()


def watch_policy(page: Any) -> None:
    """Record every Content-Security-Policy violation Chromium reports on `page`."""
    page.violations = []

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            page.violations.append(message.text)

    page.on("console", on_console)


def refuse_outside(context: Any, route: Any) -> None:
    """Let loopback requests through; refuse and record any other."""
    url = route.request.url
    if url.startswith(("http://127.0.0.1:", "http://localhost:")):
        route.continue_()
    else:
        context.outside.append(url)
        route.abort()


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    with run_live_server(make_settings(sqlite_url, **FAST)) as live:
        yield live


class People:
    """Browser contexts, one per person, each refusing the world beyond loopback."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self._contexts: list[Any] = []
        self.pages: list[Any] = []

    def context(self) -> Any:
        """A new person: a browser context of their own (cookies, storage)."""
        context = self._browser.new_context(viewport={"width": 1000, "height": 800})
        context.outside = []
        context.route("**/*", lambda route: refuse_outside(context, route))
        self._contexts.append(context)
        return context

    def tab(self, context: Any) -> Any:
        """A new tab of that person, watched for script errors and policy violations."""
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        watch_policy(page)
        self.pages.append(page)
        return page

    def close(self) -> None:
        """Check nothing went wrong in any tab, then close every context."""
        for page in self.pages:
            assert page.errors == [], page.errors
            assert page.violations == [], page.violations
        for context in self._contexts:
            assert context.outside == []
            context.close()


@pytest.fixture
def people(browser: Any) -> Iterator[People]:
    """Separate people in one Chromium."""
    crowd = People(browser)
    yield crowd
    crowd.close()


def sign_in(page: Any, server: LiveServer, name: str, password: str = PASSWORD) -> None:
    """Fill in the sign-in form the page shows and send it."""
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("form.auth-form button[type=submit]")
