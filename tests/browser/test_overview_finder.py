"""Finding a device among 200 on the overview, in headless Chromium against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.db import create_db_engine
from tests.factories import FakeClock, add_device, make_settings, register
from tests.servers import LiveServer, post, post_reading, run_live_server

FLEET = 200
NAMED = ["Greenhouse-North", "greenhouse-south", "garage"]
OFFLINE_AFTER = 11 * 60  # seconds: ten assumed intervals of 60 s, and a minute more


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def fleet(sqlite_url: str, clock: FakeClock) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A server whose hub starts with 200 devices, and the tokens of the named ones."""
    engine = create_db_engine(make_settings(sqlite_url))
    names = NAMED + [f"pi-{i:03d}" for i in range(FLEET - len(NAMED))]
    register(engine, *names)
    engine.dispose()
    with run_live_server(make_settings(sqlite_url, refresh_interval=0.2), clock=clock) as live:
        # New tokens for the devices the tests post for (register's are not kept).
        tokens = {name: rotate(live, name) for name in [*NAMED, "pi-007"]}
        yield live, tokens


def rotate(server: LiveServer, name: str) -> str:
    token: str = server.app.state.services.devices.rotate_token(name)
    return token


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    # The page must work without the internet: anything not on loopback is refused.
    context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def open_overview(page: Any, server: LiveServer, query: str = "") -> None:
    page.goto(server.url + "/" + query)
    page.wait_for_selector("#connection[data-state='open']")


def visible_names(page: Any) -> list[str]:
    names: list[str] = page.evaluate(
        "[...document.querySelectorAll('#grid > article.tile:not([hidden])')]"
        ".map(t => t.querySelector('h2').textContent.trim())"
    )
    return names


def count(page: Any) -> str:
    return str(page.locator("#finder-count").text_content())


def tile_of(page: Any, name: str) -> Any:
    return page.locator("#grid > article.tile", has=page.get_by_role("link", name=name, exact=True))


def test_typing_narrows_the_tiles_and_the_count_as_you_type(
    page: Any, fleet: tuple[LiveServer, dict[str, str]]
) -> None:
    server, _ = fleet
    open_overview(page, server)
    assert count(page) == "200 devices"
    page.keyboard.press("/")  # the usual shortcut to the filter
    assert page.evaluate("document.activeElement.id") == "finder-q"
    page.keyboard.type("GREEN")
    page.wait_for_function(
        "() => document.getElementById('finder-count').textContent === '2 of 200 devices'"
    )
    assert visible_names(page) == ["Greenhouse-North", "greenhouse-south"]
    page.keyboard.type("house-s")
    assert visible_names(page) == ["greenhouse-south"]
    assert count(page) == "1 of 200 devices"
    page.wait_for_function(
        "() => document.getElementById('finder-announcer').textContent === '1 of 200 devices'"
    )
    page.keyboard.press("Escape")
    assert len(visible_names(page)) == FLEET
    assert count(page) == "200 devices"
    assert page.locator("#finder-q").input_value() == ""
    page.locator("#finder-q").fill("xyz")
    assert visible_names(page) == []
    assert page.locator("#no-match").text_content().strip().startswith("No device matches “xyz”.")
    page.get_by_role("button", name="Clear filter").click()
    assert len(visible_names(page)) == FLEET
    assert page.locator("#no-match").is_hidden()
    assert page.errors == []


def test_the_filter_and_sort_survive_a_reload(
    page: Any, fleet: tuple[LiveServer, dict[str, str]]
) -> None:
    server, _ = fleet
    open_overview(page, server)
    page.locator("#finder-q").fill("green")
    page.locator("#finder-sort").select_option("status")
    assert page.url == server.url + "/?q=green&sort=status"
    page.reload()
    page.wait_for_selector("#connection[data-state='open']")
    assert page.locator("#finder-q").input_value() == "green"
    assert page.locator("#finder-sort").input_value() == "status"
    assert visible_names(page) == ["Greenhouse-North", "greenhouse-south"]
    assert count(page) == "2 of 200 devices"
    assert page.errors == []


def test_sorted_by_status_an_offline_device_comes_before_a_live_one_and_moves_live(
    page: Any, fleet: tuple[LiveServer, dict[str, str]], clock: FakeClock
) -> None:
    server, tokens = fleet
    post_reading(server, tokens["garage"], temperature=20.0)
    clock.advance(OFFLINE_AFTER)
    post_reading(server, tokens["greenhouse-south"], temperature=21.0)
    open_overview(page, server, "?sort=status")
    order = page.evaluate(
        "[...document.querySelectorAll('#grid > article.tile')].map(t => t.dataset.name)"
    )
    assert order[0] == "garage"  # offline first, then the silent ones, live last
    assert order[-1] == "greenhouse-south"
    assert order[1:4] == ["Greenhouse-North", "pi-000", "pi-001"]  # then by name
    # The live one falls silent: its tile is replaced, and moves up among the offline.
    clock.advance(OFFLINE_AFTER)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#grid > article.tile')].slice(0, 2)"
        ".map(t => t.dataset.name).join() === 'garage,greenhouse-south'",
        timeout=5000,
    )
    assert page.errors == []


def test_while_filtered_tiles_keep_updating_and_hidden_ones_stay_hidden(
    page: Any, fleet: tuple[LiveServer, dict[str, str]], clock: FakeClock
) -> None:
    server, tokens = fleet
    open_overview(page, server, "?q=green")
    assert visible_names(page) == ["Greenhouse-North", "greenhouse-south"]
    post_reading(server, tokens["Greenhouse-North"], temperature=22.5)
    north = tile_of(page, "Greenhouse-North")
    page.wait_for_function(
        "() => document.querySelector(\"article[data-name='Greenhouse-North'] .number\")"
        "?.textContent === '22.5'",
        timeout=3000,
    )
    assert north.is_visible()
    post_reading(server, tokens["pi-007"], temperature=30.5)
    page.wait_for_function(
        "() => document.querySelector(\"article[data-name='pi-007'] .number\")"
        "?.textContent === '30.5'",
        timeout=3000,
    )
    assert tile_of(page, "pi-007").is_hidden()  # replaced by the stream, still filtered out
    assert visible_names(page) == ["Greenhouse-North", "greenhouse-south"]
    # A device the hub has not seen: the whole grid is swapped in, and filtered again.
    post(server, add_device(server.app, "greenhouse-east"), temperature=19.0)
    page.wait_for_function(
        "() => document.getElementById('finder-count').textContent === '3 of 201 devices'",
        timeout=5000,
    )
    assert visible_names(page) == ["greenhouse-east", "Greenhouse-North", "greenhouse-south"]
    assert page.errors == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["alpha", "beta", "dev9", "dev10", "Zeta"]),
        ("status", ["beta", "dev9", "dev10", "Zeta", "alpha"]),  # no data yet, then live
    ],
)
def test_a_few_tiles_stay_sorted_once_the_stream_sends_the_grid(
    page: Any, sqlite_url: str, sort: str, expected: list[str]
) -> None:
    # The server's order is by code point (Zeta before alpha, dev10 before dev9): the
    # grid the stream sends on opening must be sorted again, however few its tiles.
    with run_live_server(make_settings(sqlite_url, refresh_interval=0.2)) as server:
        tokens = {name: add_device(server.app, name) for name in expected}
        post_reading(server, tokens["alpha"], temperature=20.0)
        page.goto(server.url + f"/?sort={sort}")
        page.wait_for_selector("#connection[data-state='open']")
        page.wait_for_timeout(500)  # the stream's grid has been swapped in
        assert visible_names(page) == expected
