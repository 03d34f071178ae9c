"""The API documentation (/docs) in Chromium with no internet: everything from the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import watch_policy
from tests.factories import make_settings
from tests.servers import LiveServer, run_live_server

LOOPBACK = {"127.0.0.1", "localhost"}
ROOT = "/dash"  # where a proxy serves the app in the second case


@pytest.fixture(params=["", ROOT], ids=["at the root", "under a root path"])
def server(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[LiveServer]:
    with run_live_server(make_settings(sqlite_url), root_path=request.param) as live:
        yield live


@pytest.fixture
def offline_page(browser: Any, server: LiveServer) -> Iterator[Any]:
    """A page that can reach only loopback, through a prefix-stripping proxy if rooted.

    `page.outside` lists every request to another host (aborted), and, under a root
    path, every request outside it (which a proxy would not have passed on).
    """
    root = server.server.config.root_path
    context = browser.new_context()
    page = context.new_page()
    page.outside, page.failed, page.errors = [], [], []

    def route(route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.hostname not in LOOPBACK or not parts.path.startswith(root + "/"):
            page.outside.append(url)
            route.abort()
        elif root:
            route.continue_(url=url.replace(parts.path, parts.path.removeprefix(root), 1))
        else:
            route.continue_()

    page.route("**/*", route)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    watch_policy(page)
    page.on("response", lambda r: r.status >= 400 and page.failed.append(f"{r.status} {r.url}"))
    yield page
    context.close()


def test_the_api_documentation_shows_its_operations_without_internet(
    offline_page: Any, server: LiveServer
) -> None:
    page = offline_page
    page.goto(server.url + server.server.config.root_path + "/docs")
    ingest = page.locator(".opblock-post .opblock-summary-path[data-path='/api/v1/measurements']")
    try:
        ingest.wait_for(timeout=10_000)
    except PlaywrightTimeout:
        pytest.fail(f"no operations shown; asked beyond the server for {page.outside}")
    assert page.locator(".opblock").count() >= 8  # every route of the API, not only one
    page.wait_for_load_state("networkidle")
    assert page.outside == [], "the page asked for something beyond the server"
    assert page.failed == []
    assert page.errors == []
    assert page.violations == [], "the Content-Security-Policy refused something"
