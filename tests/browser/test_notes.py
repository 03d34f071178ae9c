"""Chart notes on the device page, in Chromium: added on a chart, live in every tab of
every person watching the device, changed only by their author, gone everywhere at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import pytest

from app.web.auth import SESSION_COOKIE
from tests.browser.conftest import FAST, People
from tests.factories import add_device, make_settings
from tests.servers import LiveServer, post, run_live_server
from tests.signing_in import Account, make_account

READY = (
    "() => document.getElementById('device-page')?.dataset.notes === 'loaded'"
    " && document.querySelector('.plot')?.dataset.state === 'drawn'"
    " && document.getElementById('connection')?.dataset.state === 'open'"
)


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(sqlite_url, public_dashboard=False, **FAST)
    with run_live_server(settings) as live:
        token = add_device(live.app, "greenhouse")
        post(live, token, temperature=20.5, humidity=40.0)
        yield live


def device_tab(people: People, server: LiveServer, account: Account | None, query: str = "") -> Any:
    """A new person (or a new tab of `account`'s person) on the greenhouse's page."""
    context = people.context()
    if account is not None:
        context.add_cookies([{"name": SESSION_COOKIE, "value": account.cookie, "url": server.url}])
    tab = people.tab(context)
    tab.goto(server.url + "/devices/greenhouse" + query)
    tab.wait_for_function(READY)
    return tab


def second_tab(people: People, tab: Any, server: LiveServer) -> Any:
    """Another tab of the same person (its browser context) on the same page."""
    other = people.tab(tab.context)
    other.goto(server.url + "/devices/greenhouse")
    other.wait_for_function(READY)
    return other


def has_note(note_id: int, text: str) -> str:
    """A wait for the note in the list and as a flag on every chart."""
    return (
        f"() => document.getElementById('note-{note_id}')?.textContent.includes({text!r})"
        f" && window.notesShown().length > 0"
        f" && window.notesShown().every(ids => ids.includes({note_id}))"
    )


def gone(note_id: int) -> str:
    return (
        f"() => !document.getElementById('note-{note_id}')"
        f" && window.notesShown().every(ids => !ids.includes({note_id}))"
    )


def test_a_note_added_on_the_chart_is_live_in_every_tab_and_only_its_author_changes_it(
    people: People,
    server: LiveServer,
) -> None:
    anna = make_account(server.app, "anna", display_name="Anna")
    bob = make_account(server.app, "bob", display_name="Bob")
    mine = device_tab(people, server, anna)
    mine_too = second_tab(people, mine, server)
    theirs = device_tab(people, server, bob)

    plot = mine.locator(".chart .u-over").first
    box = plot.bounding_box()
    plot.click(position={"x": box["width"] * 0.8, "y": box["height"] / 2})
    assert mine.input_value("#note-form [name=at_local]") != ""  # the time clicked
    mine.fill("#note-form textarea", "Heater off <b>for repair</b>, @bob please check")
    mine.click("#note-form button[type=submit]")
    mine.wait_for_function("() => document.querySelector('#note-list li')")
    note_id = int(mine.locator("#note-list li").first.get_attribute("data-id"))
    for tab in (mine, mine_too, theirs):
        tab.wait_for_function(has_note(note_id, "<b>for repair</b>"), timeout=5000)
        mention = tab.locator(f"#note-{note_id} .mention")
        assert mention.inner_text() == "@bob"
        assert tab.locator(f"#note-{note_id} b").count() == 0  # shown as text, not markup
    assert mine.locator(f"#note-{note_id} .note-delete-button").count() == 1
    assert theirs.locator(f"#note-{note_id} button").count() == 0  # Bob may not change it

    flag = theirs.locator(f".note-flag[data-note-id='{note_id}']").first
    flag.hover()
    tip = theirs.locator(".note-tip:visible").first
    assert "Anna" in tip.inner_text() and "for repair" in tip.inner_text()

    mine_too.click(f"#note-{note_id} .note-edit-button")
    mine_too.fill(f"#note-{note_id} textarea", "")
    mine_too.click(f"#note-{note_id} button[type=submit]")
    error = mine_too.locator(f"#note-{note_id} .field-error")
    error.wait_for(state="visible")
    assert "needs some text" in error.inner_text()
    time.sleep(1.0)  # the API's times are to the second: an edit shows in a later one
    mine_too.fill(f"#note-{note_id} textarea", "Heater fixed")
    mine_too.click(f"#note-{note_id} button[type=submit]")
    for tab in (mine, mine_too, theirs):
        tab.wait_for_function(has_note(note_id, "Heater fixed"), timeout=5000)
        assert "(edited)" in tab.locator(f"#note-{note_id}").inner_text()

    mine.click(f"#note-{note_id} .note-delete-button")
    for tab in (mine, mine_too, theirs):
        tab.wait_for_function(gone(note_id), timeout=5000)


def test_errors_show_next_to_their_field_and_a_mention_link_marks_its_note(
    people: People,
    server: LiveServer,
) -> None:
    anna = make_account(server.app, "anna")
    tab = device_tab(people, server, anna)
    tab.fill("#note-form textarea", "too late")
    later = datetime.now() + timedelta(hours=2)  # noqa: DTZ005  (the browser's local time)
    tab.fill("#note-form [name=at_local]", later.strftime("%Y-%m-%dT%H:%M"))
    tab.click("#note-form button[type=submit]")
    tab.locator("#note-at-error").wait_for(state="visible")
    assert "later than" in tab.inner_text("#note-at-error")
    assert tab.get_attribute("#note-form [name=at_local]", "aria-invalid") == "true"

    at = datetime.now(UTC) - timedelta(days=3)
    answer = httpx.post(
        server.url + "/api/v1/devices/greenhouse/notes",
        json={
            "text": "an old one",
            "at": at.isoformat(),
            "until": (at + timedelta(hours=2)).isoformat(),
        },
        headers=anna.bearer,
    )
    assert answer.status_code == 201, answer.text
    added = answer.json()
    span = {
        "from": (at - timedelta(hours=1)).isoformat(),
        "to": (at + timedelta(hours=3)).isoformat(),
    }
    linked = people.tab(tab.context)
    linked.goto(f"{server.url}/devices/greenhouse?{urlencode(span)}#note-{added['id']}")
    linked.wait_for_function(
        f"() => document.getElementById('note-{added['id']}')?.classList.contains('note-highlight')"
    )
    assert linked.evaluate("() => document.activeElement.id") == f"note-{added['id']}"
    assert tab.locator(f"#note-{added['id']}").count() == 0  # not in the last hour's range

    # A note added meanwhile redraws the list live; the linked note keeps the focus.
    later_one = httpx.post(
        server.url + "/api/v1/devices/greenhouse/notes",
        json={"text": "a later one", "at": (at + timedelta(hours=1)).isoformat()},
        headers=anna.bearer,
    ).json()
    linked.wait_for_function(has_note(later_one["id"], "a later one"))
    assert linked.evaluate("() => document.activeElement.id") == f"note-{added['id']}"


def test_a_guest_of_a_public_dashboard_sees_notes_but_no_form(
    people: People,
    sqlite_url: str,
) -> None:
    settings = make_settings(sqlite_url, public_dashboard=True, **FAST)
    with run_live_server(settings) as server:
        token = add_device(server.app, "greenhouse")
        post(server, token, temperature=20.5)
        anna = make_account(server.app, "anna")
        at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        note = httpx.post(
            server.url + "/api/v1/devices/greenhouse/notes",
            json={"text": "seen by all", "at": at},
            headers=anna.bearer,
        ).json()
        guest = device_tab(people, server, None)
        guest.wait_for_function(has_note(note["id"], "seen by all"))
        assert guest.locator("#note-form").count() == 0
        assert guest.locator(f"#note-{note['id']} button").count() == 0
