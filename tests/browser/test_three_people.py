"""Presence and notifications as three people meet them in Chromium: an admin, and two
viewers with two tabs each, every person a browser context of their own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.accounts import CLI
from tests.browser.conftest import FAST, People, sign_in
from tests.factories import add_device, make_settings
from tests.servers import LiveServer, post, run_live_server
from tests.signing_in import PASSWORD

# Its stream open, or joined (pages without live content show no connection state).
LIVE = "() => !!(window.TelemetryLive && window.TelemetryLive.state().stream)"
# The header's list as text: "Name ×2" for two tabs, one entry a user.
PRESENCE = (
    "() => Array.from(document.querySelectorAll('#presence .presence-list li'))"
    ".map((li) => li.textContent.replace(/\\s+/g, ' ').trim().replace(' tabs', ''))"
)
BADGE = (
    "() => { const b = document.querySelector('#unread .unread-count');"
    " return b && !b.hidden ? b.textContent.trim().split(/\\s/)[0] : ''; }"
)


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers, with an admin, two viewers and a device."""
    settings = make_settings(sqlite_url, public_dashboard=False, **FAST)
    with run_live_server(settings) as live:
        users = live.app.state.services.accounts.users
        users.add("root", PASSWORD, role="admin", display_name="Root", actor=CLI)
        users.add("maria", PASSWORD, display_name="Maria", actor=CLI)
        users.add("jonas", PASSWORD, display_name="Jonas", actor=CLI)
        token = add_device(live.app, "greenhouse")
        post(live, token, temperature=20.5)
        yield live


def person(people: People, server: LiveServer, name: str, paths: list[str]) -> list[Any]:
    """`name` signed in, with a tab on each of `paths`, all live."""
    context = people.context()
    tabs: list[Any] = []
    for path in paths:
        tab = people.tab(context)
        if not tabs:
            tab.goto(server.url + "/login?next=" + path)
            sign_in(tab, server, name)
            tab.wait_for_url(server.url + path)
        else:
            tab.goto(server.url + path)
        tabs.append(tab)
    for tab in tabs:
        tab.wait_for_function(LIVE, timeout=10_000)
    return tabs


# Whether a toast holding the text passed as the argument is shown.
TOAST_WITH = (
    "(text) => Array.from(document.querySelectorAll('#toasts .toast'))"
    ".some((t) => t.textContent.includes(text))"
)


def wait_toast(tab: Any, text: str) -> None:
    tab.wait_for_function(TOAST_WITH, arg=text, timeout=10_000)


def badge(tab: Any) -> str:
    return str(tab.evaluate(BADGE))


def test_a_notification_to_one_viewer_reaches_only_their_tabs_and_a_read_clears_both(
    people: People, server: LiveServer
) -> None:
    (admin,) = person(people, server, "root", ["/admin/notify"])
    maria = person(people, server, "maria", ["/", "/devices/greenhouse"])
    jonas = person(people, server, "jonas", ["/", "/devices/greenhouse"])

    admin.fill("input[name=title]", "Vent check <today>")
    admin.fill("textarea[name=message]", "Please look at the vent.\nSee /devices/greenhouse")
    admin.check("input[name=users][value=maria]")
    admin.click("main form button[type=submit].primary")
    admin.wait_for_selector("text=Sent to 1 user")

    for tab in maria:
        wait_toast(tab, "Vent check <today>")
        tab.wait_for_function(f"() => ({BADGE})() === '1'", timeout=10_000)
    for tab in jonas:
        tab.wait_for_timeout(300)
        assert tab.evaluate(TOAST_WITH, "Vent check") is False
        assert badge(tab) == ""

    maria[0].click("#toasts .toast .toast-read")
    maria[1].wait_for_function(f"() => ({BADGE})() === ''", timeout=10_000)
    maria[1].wait_for_function("() => !document.querySelector('#toasts .toast')", timeout=10_000)


def test_a_note_mentioning_both_viewers_notifies_both_and_shows_on_every_chart(
    people: People, server: LiveServer
) -> None:
    (admin,) = person(people, server, "root", ["/devices/greenhouse"])
    maria = person(people, server, "maria", ["/devices/greenhouse", "/devices/greenhouse"])
    jonas = person(people, server, "jonas", ["/devices/greenhouse", "/"])

    admin.fill("#note-form textarea[name=text]", "Heater off for repair, @maria @jonas check it")
    admin.click("#note-form button[type=submit]")

    for tab in (*maria, *jonas):
        wait_toast(tab, "Heater off for repair")
        tab.wait_for_function(f"() => ({BADGE})() === '1'", timeout=10_000)
    for tab in (admin, *maria, jonas[0]):
        tab.wait_for_function(
            "() => Array.from(document.querySelectorAll('#note-list li'))"
            ".some((li) => li.textContent.includes('Heater off for repair'))"
            " && window.notesShown().length > 0"
            " && window.notesShown().every((ids) => ids.length === 1)",
            timeout=10_000,
        )
    assert admin.evaluate("() => document.querySelectorAll('#toasts .toast').length") == 0


def shows(tab: Any, expected: list[str]) -> None:
    """Wait until the tab's header lists exactly `expected`."""
    tab.wait_for_function(
        f"(expected) => JSON.stringify(({PRESENCE})()) === JSON.stringify(expected)",
        arg=expected,
        timeout=10_000,
    )


def test_the_header_lists_each_person_once_with_their_tabs_and_follows_them(
    people: People, server: LiveServer
) -> None:
    (admin,) = person(people, server, "root", ["/"])
    maria = person(people, server, "maria", ["/", "/"])
    jonas = person(people, server, "jonas", ["/", "/"])
    everyone = ["Jonas ×2", "Maria ×2", "Root"]
    for tab in (admin, *maria, *jonas):
        shows(tab, everyone)

    # Every list the admin's header shows from now on is recorded.
    admin.evaluate(
        "() => { window.seen = []; new MutationObserver(() => window.seen.push("
        f"({PRESENCE})().join(', '))).observe(document.getElementById('presence'),"
        " {childList: true, subtree: true}); }"
    )
    maria[1].click("#tile-1-link")
    maria[1].wait_for_url(server.url + "/devices/greenhouse")
    maria[1].wait_for_function(LIVE, timeout=10_000)
    maria[1].wait_for_function(
        "() => document.getElementById('watchers')?.textContent.includes('Maria')",
        timeout=10_000,
    )
    admin.wait_for_timeout(2000)  # past the grace and a few refresh intervals
    shows(admin, everyone)
    seen = admin.evaluate("() => window.seen")
    assert all("Maria ×2" in entry for entry in seen if entry), f"a leave showed: {seen}"

    jonas[0].close(run_before_unload=True)
    people.pages.remove(jonas[0])
    for tab in (admin, *maria, jonas[1]):
        shows(tab, ["Jonas", "Maria ×2", "Root"])
    # The overview says who looks at it: Maria's second tab moved to the device's page.
    admin.wait_for_function(
        "() => { const w = document.getElementById('watchers').textContent;"
        " return w.includes('Jonas') && w.includes('Maria') && !w.includes('×'); }",
        timeout=10_000,
    )


def test_a_display_name_with_markup_is_shown_as_text(people: People, server: LiveServer) -> None:
    name = '<img src=x onerror="document.title=1">\n\ndata: x'
    users = server.app.state.services.accounts.users
    users.add("mallory", PASSWORD, display_name=name.replace("\n", " "), actor=CLI)
    (admin,) = person(people, server, "root", ["/"])
    person(people, server, "mallory", ["/"])
    admin.wait_for_function(
        "(name) => Array.from(document.querySelectorAll('#presence .who'))"
        ".some((who) => who.textContent === name)",
        arg=name.replace("\n", " "),
        timeout=10_000,
    )
    assert admin.locator("#presence img, #watchers img").count() == 0
    assert admin.title() != "1"
