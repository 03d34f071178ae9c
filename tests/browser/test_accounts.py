"""Accounts as people meet them in Chromium: the first admin, signing in and out, and
the pages a viewer may not open. Each user is a browser context of their own."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.accounts import CLI
from app.cli.serving import announce_first_run
from tests.browser.conftest import FAST, People, sign_in
from tests.factories import add_device, make_settings
from tests.servers import LiveServer, post, run_live_server
from tests.signing_in import PASSWORD


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers, as it runs by default."""
    settings = make_settings(sqlite_url, public_dashboard=False, **FAST)
    with run_live_server(settings) as live:
        yield live


def test_the_first_admin_is_created_through_the_setup_address(
    people: People, server: LiveServer
) -> None:
    page = people.tab(people.context())
    page.goto(server.url + "/")
    assert page.url.startswith(server.url + "/login")
    assert "No user exists yet" in page.locator("main").inner_text()
    host, port = server.url.removeprefix("http://").split(":")
    notice = announce_first_run(server.app.state.services.accounts, host=host, port=int(port))
    assert notice is not None  # what `telemetry serve` prints while no user exists
    (address,) = re.findall(r"http://\S+/setup\?code=\S+", notice)
    page.goto(address)
    page.fill("#username", "boss")
    page.fill("#display_name", "Ada <Admin>")
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(server.url + "/")
    assert page.locator(".user-menu summary").inner_text() == "Ada <Admin>"
    page.goto(address)
    assert "Setup closed" in page.locator("h1").inner_text()


def test_a_viewer_signs_in_after_a_wrong_password_and_signs_out(
    people: People, server: LiveServer
) -> None:
    server.app.state.services.accounts.users.add("maria", PASSWORD, actor=CLI)
    add_device(server.app, "greenhouse")
    page = people.tab(people.context())
    page.goto(server.url + "/devices/greenhouse?range=7d")
    sign_in(page, server, "maria", "not my password")
    assert page.locator("#login-error").inner_text() == "Wrong name or password."
    assert page.locator("#username").input_value() == "maria"
    sign_in(page, server, "maria")
    page.wait_for_url(server.url + "/devices/greenhouse?range=7d")
    page.wait_for_selector("#connection[data-state='open']")
    page.click(".user-menu summary")
    page.click(".user-menu button[type=submit]")
    page.wait_for_url(server.url + "/login")
    page.goto(server.url + "/")
    assert page.url.startswith(server.url + "/login")


def test_a_viewer_meets_a_refusal_page_on_admin_pages(people: People, server: LiveServer) -> None:
    server.app.state.services.accounts.users.add("maria", PASSWORD, actor=CLI)
    page = people.tab(people.context())
    page.goto(server.url + "/login")
    sign_in(page, server, "maria")
    page.wait_for_url(server.url + "/")
    assert page.locator(".user-menu nav").count() == 0  # no admin links for a viewer
    for path in ("/admin/devices", "/admin/users", "/admin/audit"):
        response = page.goto(server.url + path)
        assert response.status == 403, path
        assert page.locator("h1").inner_text() == "Not allowed"


def signed_in_tab(people: People, context: Any, server: LiveServer, name: str) -> Any:
    """A tab of `context` signed in as `name` on the overview, its stream open."""
    page = people.tab(context)
    page.goto(server.url + "/login")
    sign_in(page, server, name)
    page.wait_for_url(server.url + "/")
    page.wait_for_selector("#connection[data-state='open']")
    return page


def test_a_device_added_by_the_admin_shows_its_readings_live_to_a_viewer(
    people: People, server: LiveServer
) -> None:
    users = server.app.state.services.accounts.users
    users.add("boss", PASSWORD, role="admin", actor=CLI)
    users.add("maria", PASSWORD, actor=CLI)
    viewer = signed_in_tab(people, people.context(), server, "maria")
    admin = signed_in_tab(people, people.context(), server, "boss")
    admin.click(".user-menu summary")
    admin.click(".user-menu nav >> text=Devices")
    admin.fill("#new-device-name", "greenhouse")
    admin.click("text=Add device")
    token = admin.locator("#device-token").inner_text().strip()
    assert "--server " + server.url in admin.locator("#agent-command").inner_text()
    tile = viewer.locator("article.tile[data-name='greenhouse']")
    tile.wait_for(timeout=5000)  # the new device appears on the open overview
    post(server, token, temperature=23.4)
    viewer.wait_for_function(
        "() => document.querySelector(\"article.tile[data-name='greenhouse'] .number\")"
        "?.textContent === '23.4'",
        timeout=3000,
    )


def test_signing_a_viewer_out_everywhere_sends_every_tab_to_the_login_page(
    people: People, server: LiveServer
) -> None:
    users = server.app.state.services.accounts.users
    users.add("boss", PASSWORD, role="admin", actor=CLI)
    users.add("maria", PASSWORD, actor=CLI)
    add_device(server.app, "greenhouse")
    maria = people.context()
    overview = signed_in_tab(people, maria, server, "maria")
    device = people.tab(maria)  # a second tab of the same browser, the same session
    device.goto(server.url + "/devices/greenhouse")
    device.wait_for_selector("#connection[data-state='open']")
    other_browser = signed_in_tab(people, people.context(), server, "maria")
    admin = signed_in_tab(people, people.context(), server, "boss")
    admin.goto(server.url + "/admin/users/maria/sessions")
    assert admin.locator("table tbody tr").count() == 2  # two browsers, two sessions
    admin.click("text=Sign maria out everywhere")
    started = time.monotonic()
    for tab in (overview, device, other_browser):
        tab.wait_for_url(re.compile(re.escape(server.url) + r"/login.*"), timeout=3000)
    assert time.monotonic() - started < 1.0 + 0.5  # within 1 s, and a reload's load
    assert device.url.startswith(server.url + "/login?next=/devices/greenhouse")
    overview.goto(server.url + "/")
    assert overview.url.startswith(server.url + "/login")
    assert admin.url.startswith(server.url + "/admin/users/maria/sessions")
