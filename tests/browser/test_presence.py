"""Who is watching, as three people see it in Chromium: an admin, and two viewers with
two tabs each, every person a browser context of their own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.accounts import CLI
from tests.browser.conftest import FAST, People, sign_in
from tests.factories import add_device, make_settings
from tests.servers import LiveServer, run_live_server
from tests.signing_in import PASSWORD

LIVE = "() => document.getElementById('connection')?.dataset.state === 'open'"
# The header's list as text: "Name ×2" for two tabs, one entry a user.
PRESENCE = (
    "() => Array.from(document.querySelectorAll('#presence .presence-list li'))"
    ".map((li) => li.textContent.replace(/\\s+/g, ' ').trim().replace(' tabs', ''))"
)


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers, with an admin and two viewers."""
    settings = make_settings(sqlite_url, public_dashboard=False, **FAST)
    with run_live_server(settings) as live:
        users = live.app.state.services.accounts.users
        users.add("root", PASSWORD, role="admin", display_name="Root", actor=CLI)
        users.add("maria", PASSWORD, display_name="Maria", actor=CLI)
        users.add("jonas", PASSWORD, display_name="Jonas", actor=CLI)
        add_device(live.app, "greenhouse")
        yield live


def person(people: People, server: LiveServer, name: str, tabs: int) -> list[Any]:
    """`name` signed in, with `tabs` tabs on the overview, all live."""
    context = people.context()
    first = people.tab(context)
    first.goto(server.url + "/login")
    sign_in(first, server, name)
    first.wait_for_url(server.url + "/")
    opened = [first]
    for _ in range(tabs - 1):
        tab = people.tab(context)
        tab.goto(server.url + "/")
        opened.append(tab)
    for tab in opened:
        tab.wait_for_function(LIVE, timeout=10_000)
    return opened


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
    (admin,) = person(people, server, "root", 1)
    maria = person(people, server, "maria", 2)
    jonas = person(people, server, "jonas", 2)
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
