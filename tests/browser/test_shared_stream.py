"""The tabs of one browser share one live stream (static/js/live.js), in Chromium.

A browser holds at most six HTTP/1.1 connections to a server: ten tabs with a stream
each would leave an eleventh page waiting for ever. One tab leads (it holds the stream),
the others join it, and when the leader goes another tab takes over.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.accounts import CLI
from tests.browser.conftest import FAST, refuse_outside, sign_in, watch_policy
from tests.factories import add_device, make_settings
from tests.servers import LiveServer, post, run_live_server
from tests.signing_in import PASSWORD

TABS = 10
LIVE = "() => document.getElementById('connection')?.dataset.state === 'open'"
ROLE = "() => window.TelemetryLive.state().role"


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers, as it runs by default."""
    settings = make_settings(sqlite_url, public_dashboard=False, **FAST)
    with run_live_server(settings) as live:
        yield live


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """One person's browser: its tabs share cookies, storage, locks and channels."""
    context = browser.new_context(viewport={"width": 1000, "height": 800}, locale="en-US")
    context.outside = []
    context.route("**/*", lambda route: refuse_outside(context, route))
    context.tabs = []
    yield context
    for tab in context.tabs:
        assert tab.errors == [], tab.errors
        assert tab.violations == [], tab.violations
    assert context.outside == []
    context.close()


def new_tab(context: Any, url: str) -> Any:
    """A tab of `context` at `url`, watched for script errors and policy violations."""
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    watch_policy(tab)
    context.tabs.append(tab)
    tab.goto(url)
    return tab


def signed_in(context: Any, server: LiveServer) -> Any:
    """The first tab: signed in as maria, on the overview, live."""
    server.app.state.services.accounts.users.add("maria", PASSWORD, actor=CLI)
    tab = new_tab(context, server.url + "/login")
    sign_in(tab, server, "maria")
    tab.wait_for_url(server.url + "/")
    tab.wait_for_function(LIVE)
    return tab


def shows(tab: Any, value: str) -> None:
    """Wait until the tab's tile of the device shows `value` as its temperature."""
    tab.wait_for_function(
        "(value) => document.querySelector("
        "\"#tile-1 [data-quantity='temperature'] .number\")?.dataset.value === value",
        arg=value,
        timeout=10_000,
    )


def roles(tabs: list[Any]) -> list[str]:
    return sorted(tab.evaluate(ROLE) for tab in tabs)


def test_ten_tabs_of_one_browser_stay_live_and_an_eleventh_page_loads_at_once(
    context: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post(server, token, temperature=20.0)
    tabs = [signed_in(context, server)]
    for i in range(1, TABS):
        path = "/" if i % 2 else "/devices/greenhouse"
        tabs.append(new_tab(context, server.url + path))
        tabs[-1].wait_for_function(LIVE, timeout=10_000)
    assert roles(tabs) == ["follower"] * (TABS - 1) + ["leader"]
    streams = {tab.evaluate("() => window.TelemetryLive.state().stream") for tab in tabs}
    assert len(streams) == 1, "every tab is a view on the leader's stream"

    started = time.monotonic()
    eleventh = new_tab(context, server.url + "/devices/greenhouse")
    assert time.monotonic() - started < 5, "a new page does not wait for a connection"
    eleventh.wait_for_function(LIVE, timeout=10_000)

    post(server, token, temperature=23.5)
    for tab in [*tabs, eleventh]:
        shows(tab, "23.5")
    # Presence counts tabs, not streams: one user, eleven tabs.
    tabs[0].wait_for_function(
        "() => document.querySelector('#presence .presence-list li')?.textContent"
        ".replace(/\\s+/g, ' ').includes('maria ×11')",
        timeout=10_000,
    )


def test_when_the_leading_tab_closes_another_takes_over_and_every_tab_stays_live(
    context: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post(server, token, temperature=20.0)
    tabs = [signed_in(context, server)]
    for path in ("/devices/greenhouse", "/", "/devices/greenhouse"):
        tabs.append(new_tab(context, server.url + path))
        tabs[-1].wait_for_function(LIVE, timeout=10_000)
    (leader,) = [tab for tab in tabs if tab.evaluate(ROLE) == "leader"]
    before = leader.evaluate("() => window.TelemetryLive.state().stream")
    leader.close(run_before_unload=True)
    context.tabs.remove(leader)
    tabs.remove(leader)

    deadline = time.monotonic() + 3
    while roles(tabs) != ["follower"] * (len(tabs) - 1) + ["leader"]:
        assert time.monotonic() < deadline, "no tab took the lead"
        time.sleep(0.05)
    for tab in tabs:  # every follower has joined the new leader's stream
        tab.wait_for_function(
            "(before) => { const s = window.TelemetryLive.state();"
            " return s.stream && s.stream !== before; }",
            arg=before,
            timeout=5_000,
        )
    post(server, token, temperature=24.5)
    for tab in tabs:
        shows(tab, "24.5")


def test_a_tab_keeps_its_id_across_pages_and_a_copy_of_it_gets_its_own(
    context: Any, server: LiveServer
) -> None:
    add_device(server.app, "greenhouse")
    first = signed_in(context, server)
    tab_id = first.evaluate("() => window.TelemetryLive.state().tab")
    first.goto(server.url + "/devices/greenhouse")
    first.wait_for_function(LIVE)
    assert first.evaluate("() => window.TelemetryLive.state().tab") == tab_id
    # A tab opened from this one starts with a copy of its sessionStorage.
    with context.expect_page() as opened:
        first.evaluate("() => { window.open('/', '_blank'); }")
    copy = opened.value
    copy.errors = []
    copy.on("pageerror", lambda error: copy.errors.append(str(error)))
    watch_policy(copy)
    context.tabs.append(copy)
    copy.wait_for_function(LIVE, timeout=10_000)
    assert copy.evaluate("() => sessionStorage.getItem('telemetry-tab')") is not None
    assert copy.evaluate("() => window.TelemetryLive.state().tab") != tab_id
    first.wait_for_function(
        "() => document.querySelector('#presence .presence-list li')?.textContent"
        ".replace(/\\s+/g, ' ').includes('maria ×2')",
        timeout=10_000,
    )
