"""Tiles and pages as a new user first sees them: old data never shown as live, sparse
data drawn so it reads as data, and no connection state where nothing is live."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.browser.pixels import ink
from tests.factories import add_device
from tests.servers import LiveServer, post_reading, post_readings


def test_a_reading_weeks_old_shows_its_age_and_never_looks_live(
    page: Any, server: LiveServer
) -> None:
    old = add_device(server.app, "archive")
    post_readings(server, old, [(datetime.now(UTC) - timedelta(days=15), {"temperature": 21.5})])
    fresh = add_device(server.app, "greenhouse")
    post_reading(server, fresh, temperature=20.0)
    page.goto(server.url + "/")
    page.wait_for_selector("#connection[data-state='open']")
    archive = page.locator("article.tile[data-name='archive']")
    assert archive.get_attribute("data-status") == "offline"
    assert archive.locator(".status").text_content() == "Offline"
    value = " ".join(str(archive.locator(".value dd").text_content()).split())
    assert re.fullmatch(r"21\.5 °C · 15 days ago", value), value
    greenhouse = page.locator("article.tile[data-name='greenhouse']")
    assert greenhouse.get_attribute("data-status") == "live"
    assert greenhouse.locator(".age").count() == 0
    assert page.errors == []


def test_a_single_reading_draws_a_visible_dot(page: Any, server: LiveServer) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0)
    page.emulate_media(color_scheme="light")
    page.goto(server.url + "/")
    page.wait_for_selector("#connection[data-state='open']")
    spark = page.locator("#tile-1 .spark")
    # The card is white in the light scheme; a dot of a few pixels across is data.
    assert ink(spark.screenshot(), background=(255, 255, 255)) >= 12


def test_a_device_silent_for_the_hour_says_so_instead_of_an_empty_line(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "shed")
    post_readings(server, token, [(datetime.now(UTC) - timedelta(hours=3), {"humidity": 50.0})])
    page.goto(server.url + "/")
    page.wait_for_selector("#connection[data-state='open']")
    tile = page.locator("#tile-1")
    assert tile.locator(".spark").count() == 0
    assert tile.locator(".spark-none").text_content() == "No readings in the last hour"


def test_the_page_of_an_unknown_device_opens_no_stream(page: Any, server: LiveServer) -> None:
    streams: list[str] = []
    page.on(
        "request", lambda request: streams.append(request.url) if "/events" in request.url else None
    )
    page.goto(server.url + "/devices/nobody")
    assert page.locator("h1").text_content() == "Not found"
    page.wait_for_timeout(500)
    assert streams == []
    assert page.locator("#connection").count() == 0
    assert "Connecting" not in str(page.locator("body").text_content())


def test_a_device_added_a_moment_ago_has_its_page_at_once(page: Any, server: LiveServer) -> None:
    add_device(server.app, "new-pi")
    page.goto(server.url + "/devices/new-pi")
    page.wait_for_selector("#connection[data-state='open']")
    assert page.locator(".charts .empty").text_content() == (
        "Charts appear here as soon as the device posts its first reading."
    )


def test_a_focused_tile_keeps_the_focus_when_a_reading_replaces_it(
    page: Any, server: LiveServer
) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0)
    page.goto(server.url + "/")
    page.wait_for_selector("#connection[data-state='open']")
    page.focus("#tile-1 h2 a")  # a keyboard user on their way to the device's page
    post_reading(server, token, temperature=21.0)
    page.wait_for_function(
        "() => document.querySelector(\"#tile-1 [data-quantity='temperature'] .number\")"
        ".textContent === '21.0'"
    )
    assert page.evaluate("document.activeElement.closest('article')?.id") == "tile-1"
