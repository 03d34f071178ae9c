"""The dashboard as a user sees it, in headless Chromium, against a real server."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import pytest

from tests.browser.conftest import FAST
from tests.factories import add_device, make_settings
from tests.servers import LiveServer, post, post_reading, run_live_server


def tile_value(page: Any, device_id: int, quantity: str) -> str:
    selector = f"#tile-{device_id} [data-quantity='{quantity}'] .number"
    return str(page.locator(selector).text_content())


def test_a_posted_reading_appears_within_two_seconds_without_reload(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0)
    page.goto(server.url + "/")
    page.wait_for_selector("#connection[data-state='open']")
    page.evaluate("window.notReloaded = true")
    assert tile_value(page, 1, "temperature") == "20.0"
    post(server, token, temperature=23.7)
    started = time.monotonic()
    page.wait_for_function(
        "() => document.querySelector(\"#tile-1 [data-quantity='temperature'] .number\")"
        ".textContent === '23.7'",
        timeout=2000,
    )
    assert time.monotonic() - started < 2
    assert page.evaluate("window.notReloaded") is True
    assert page.errors == []


def test_a_device_that_stops_posting_turns_late_by_itself(page: Any, server: LiveServer) -> None:
    token = add_device(server.app, "greenhouse")
    page.goto(server.url + "/")
    page.wait_for_selector("#connection[data-state='open']")
    for value in range(6):  # every 0.3 s: late after about 0.9 s of silence
        post(server, token, temperature=20.0 + value)
        time.sleep(0.3)
    page.wait_for_selector("#tile-1 .status-live", timeout=2000)  # live while it posts
    page.wait_for_selector("#tile-1 .status-late", timeout=5000)  # then late, unprompted
    assert page.locator("#tile-1 .status").text_content() == "Late"
    assert page.locator("#tile-1").get_attribute("data-status") == "late"
    assert "greenhouse: Late" in str(page.locator("#announcer").text_content())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_after_a_server_restart_the_page_reconnects_and_shows_current_values(
    page: Any, sqlite_url: str
) -> None:
    port = free_port()
    settings = make_settings(sqlite_url, **FAST)
    with run_live_server(settings, port=port) as first:
        token = add_device(first.app, "greenhouse")
        post_reading(first, token, temperature=20.0)
        page.goto(first.url + "/")
        page.wait_for_selector("#connection[data-state='open']")
    page.wait_for_selector("#connection[data-state='lost']", timeout=10000)
    with run_live_server(settings, port=port) as second:
        post(second, token, temperature=31.5)  # what the page must show once back
        page.wait_for_function(
            "() => document.querySelector(\"#tile-1 [data-quantity='temperature'] .number\")"
            ".textContent === '31.5'",
            timeout=20000,
        )
        assert page.locator("#connection").get_attribute("data-state") == "open"


def test_a_hostile_device_name_is_shown_as_text_and_runs_nothing(
    page: Any, server: LiveServer
) -> None:
    name = "<img src=x onerror=alert(1)>"
    token = add_device(server.app, name)
    post_reading(server, token, temperature=20.0)
    page.goto(server.url + "/")
    page.wait_for_selector("#connection[data-state='open']")
    post(server, token, temperature=21.0)  # and through a live update too
    page.wait_for_function(
        "() => document.querySelector(\"#tile-1 [data-quantity='temperature'] .number\")"
        ".textContent === '21.0'",
        timeout=3000,
    )
    assert page.locator("#tile-1 h2").text_content() == name
    assert page.locator("#tile-1 img").count() == 0
    page.goto(server.url + "/devices/" + quote(name, safe=""))
    page.wait_for_selector(".chart canvas")
    assert page.locator("#tile-1 h2").text_content() == name
    assert page.dialogs == []
    assert page.errors == []


def test_the_device_page_draws_a_chart_per_quantity(page: Any, server: LiveServer) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0, humidity=55.0)
    page.goto(server.url + "/devices/greenhouse?range=1h")
    page.wait_for_selector("#connection[data-state='open']")
    page.wait_for_function(
        "() => document.querySelectorAll(\".plot[data-state='drawn']\").length == 2"
    )
    assert page.locator(".chart canvas").count() == 2
    headings = page.locator(".chart h2").all_text_contents()
    assert headings == ["Humidity (%RH)", "Temperature (°C)"]
    current = page.locator(".presets a[aria-current='true']")
    assert current.get_attribute("aria-label") == "Last 1 hour"
    assert page.errors == []


def test_the_csv_link_asks_for_exactly_what_the_chart_drew(
    browser: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0)
    context = browser.new_context(viewport={"width": 360, "height": 740})  # a phone
    try:
        page = context.new_page()
        asked: list[str] = []
        answered: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/series?" in r.url else None)
        page.on(
            "requestfinished", lambda r: answered.append(r.url) if "/series?" in r.url else None
        )
        page.goto(server.url + "/devices/greenhouse?range=24h")
        page.wait_for_selector(".chart .plot[data-state='drawn']")
        page.wait_for_selector("#connection[data-state='open']")
        # The stream's snapshot moves the window to now and fetches again, so several
        # answers may be on their way: once all are in, the newest is the one drawn.
        link = ""
        for _ in range(150):
            link = str(page.locator("a[data-export='series']").get_attribute("href"))
            if len(answered) == len(asked) and link.replace("/series.csv?", "/series?") == (
                asked[-1].removeprefix(server.url)
            ):
                break
            page.wait_for_timeout(100)
        assert link.replace("/series.csv?", "/series?") == asked[-1].removeprefix(server.url)
        csv_rows = httpx.get(server.url + link).text.strip().splitlines()
        chart = httpx.get(asked[-1]).json()
        assert len(csv_rows) - 1 == len(chart["buckets"]) < 720, "sized to the phone's plot"
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= 360, "nothing wider than the phone"
        assert page.locator("input[name='from_local']").input_value() != ""
    finally:
        context.close()


def chart_settled(page: Any, readings: int) -> None:
    """Wait until the page's charts hold `readings` readings in all."""
    page.wait_for_function(f"() => window.chartCounts() === {readings}", timeout=10_000)


def test_the_live_chart_agrees_with_the_history_and_a_replay_changes_nothing(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0)
    page.goto(server.url + "/devices/greenhouse?range=1h")
    page.wait_for_selector(".chart .plot[data-state='drawn']")
    page.wait_for_selector("#connection[data-state='open']")
    for value in (21.0, 19.5, 23.25, 22.0):  # live, while the page is open
        post_reading(server, token, temperature=value)
    chart_settled(page, 5)
    (chart,) = page.evaluate("window.chartData()")
    newest = {key: chart[key][-1] for key in ("t", "low", "high", "mean", "count")}
    width = chart["width"]
    start = datetime.fromtimestamp(newest["t"], UTC)
    params = {
        "quantity": "temperature",
        "from": start.isoformat(),
        "to": (start + timedelta(seconds=width)).isoformat(),
        "max_points": "1",
    }
    url = server.url + "/api/v1/devices/greenhouse/series"
    deadline = time.monotonic() + 10
    # The five readings may straddle a minute: the newest bucket holds those of its own.
    while (bucket := httpx.get(url, params=params).json()["buckets"][0])["count"] < newest["count"]:
        assert time.monotonic() < deadline, "the rollups never caught up"
        page.wait_for_timeout(100)
    assert newest == {
        "t": newest["t"],
        "low": bucket["min"],
        "high": bucket["max"],
        "mean": pytest.approx(bucket["mean"]),
        "count": bucket["count"],
    }
    # A frame seen twice (a replay after a reconnect) replaces what it names again.
    now = int(time.time() // 60 * 60_000)
    counts = page.evaluate(
        """(now) => {
            const feed = document.getElementById("live-feed");
            const send = () => feed.dispatchEvent(new CustomEvent("sse:points", {detail: {
                lastEventId: "replayrun-900000",
                data: JSON.stringify({window: now - 59 * 60000,
                                      quantities: {temperature: [[now, 30, 30, 30, 1]]}})
            }}));
            send();
            const once = window.chartCounts();
            send();
            return [once, window.chartCounts()];
        }""",
        now,
    )
    assert counts[0] == counts[1], "the same frame again changes nothing"
    assert page.errors == []


def test_a_new_quantity_gets_its_chart_without_a_manual_reload(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0)
    page.goto(server.url + "/devices/greenhouse")
    page.wait_for_selector("#connection[data-state='open']")
    assert page.locator(".chart").count() == 1
    post(server, token, temperature=20.5, humidity=50.0)
    page.wait_for_selector(".chart[data-quantity='humidity'] canvas", timeout=8000)
    assert page.errors == []
