"""The users and sessions pages: every action through its form with the CSRF token,
the last admin kept, display names escaped, ended sessions' streams told to go."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from app.accounts import Accounts
from app.live.hub import Watcher
from tests.web.accounts_helpers import PASSWORD, add_user, sign_in, without_csrf

DISPLAY_NAMES = ["<script>alert(1)</script>", '"onmouseover=alert(1) x="']


@pytest.fixture
def csrf(client: TestClient) -> str:
    token = sign_in(client, "root")
    without_csrf(client)
    return token


def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """Wait for what the server's background tasks do, a little at a time."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)


def accounts(client: TestClient) -> Accounts:
    found: Accounts = client.app.state.services.accounts  # type: ignore[attr-defined]
    return found


def test_the_users_page_lists_every_user_with_their_sessions(client: TestClient, csrf: str) -> None:
    add_user(client.app, "alice", display_name="Alice A.")  # type: ignore[arg-type]
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "alice" in page.text and "Alice A." in page.text and "never" in page.text
    assert 'href="/admin/users/root/sessions">1</a>' in page.text


def test_an_admin_adds_a_user_who_can_then_sign_in(client: TestClient, csrf: str) -> None:
    form = {"name": "bob", "display_name": "Bob", "password": PASSWORD, "role": "viewer"}
    added = client.post("/admin/users", data={**form, "csrf_token": csrf})
    assert added.status_code == 201 and "Added bob (viewer)" in added.text
    assert accounts(client).users.authenticate("bob", PASSWORD) is not None
    again = client.post("/admin/users", data={**form, "csrf_token": csrf})
    assert again.status_code == 409 and "already exists" in again.text
    weak = client.post("/admin/users", data={**form, "name": "carol", "password": "short"})
    assert weak.status_code == 403  # no CSRF token: refused before anything is looked at
    weak = client.post(
        "/admin/users", data={**form, "name": "carol", "password": "short", "csrf_token": csrf}
    )
    assert weak.status_code == 422 and "at least 10 characters" in weak.text
    assert 'value="carol"' in weak.text  # the form keeps what was typed, not the password


def test_role_display_name_password_and_disabling_through_their_forms(
    client: TestClient, csrf: str
) -> None:
    add_user(client.app, "alice")  # type: ignore[arg-type]
    saved = client.post(
        "/admin/users/alice", data={"display_name": "Alice", "role": "admin", "csrf_token": csrf}
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    alice = accounts(client).users.get("alice")
    assert (alice.display_name, alice.role) == ("Alice", "admin")
    new_password = "another long password"
    changed = client.post(
        "/admin/users/alice/password", data={"password": new_password, "csrf_token": csrf}
    )
    assert changed.status_code == 200
    assert accounts(client).users.authenticate("alice", new_password) is not None
    short = client.post("/admin/users/alice/password", data={"password": "x", "csrf_token": csrf})
    assert short.status_code == 422
    disabled = client.post(
        "/admin/users/alice/disabled", data={"disabled": "1", "csrf_token": csrf}
    )
    assert disabled.status_code == 200 and accounts(client).users.get("alice").disabled
    enabled = client.post("/admin/users/alice/disabled", data={"disabled": "0", "csrf_token": csrf})
    assert enabled.status_code == 200 and not accounts(client).users.get("alice").disabled


def test_the_last_admin_can_be_neither_demoted_nor_disabled_nor_removed(
    client: TestClient, csrf: str
) -> None:
    demoted = client.post(
        "/admin/users/root", data={"display_name": "", "role": "viewer", "csrf_token": csrf}
    )
    assert demoted.status_code == 409 and "only active admin" in demoted.text
    disabled = client.post("/admin/users/root/disabled", data={"disabled": "1", "csrf_token": csrf})
    assert disabled.status_code == 409
    removed = client.post("/admin/users/root/remove", data={"csrf_token": csrf})
    assert removed.status_code == 409
    assert accounts(client).users.get("root").role == "admin"


def test_removing_asks_first(client: TestClient, csrf: str) -> None:
    add_user(client.app, "alice")  # type: ignore[arg-type]
    confirm = client.get("/admin/users/alice/remove")
    assert confirm.status_code == 200 and "Remove alice?" in confirm.text
    assert accounts(client).users.get_many(["alice"])
    removed = client.post("/admin/users/alice/remove", data={"csrf_token": csrf})
    assert removed.status_code == 200 and "Removed alice." in removed.text
    assert not accounts(client).users.get_many(["alice"])
    assert client.get("/admin/users/alice").status_code == 404
    assert client.get("/admin/users/x%00y").status_code == 404


def test_sessions_are_listed_readably_and_end_one_by_one_or_all(
    client: TestClient, csrf: str
) -> None:
    alice = add_user(client.app, "alice")  # type: ignore[arg-type]
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    for agent in (firefox, "curl/8.5.0"):
        accounts(client).sessions.create(
            alice, persistent=False, client="192.0.2.7", user_agent=agent
        )
    page = client.get("/admin/users/alice/sessions")
    assert page.status_code == 200
    assert "Firefox 128 on Linux" in page.text and "curl 8.5.0" in page.text
    assert "192.0.2.7" in page.text
    first = accounts(client).sessions.of_user(alice.id)[0]
    ended = client.post(f"/admin/users/alice/sessions/{first.id}/end", data={"csrf_token": csrf})
    assert ended.status_code == 200 and len(accounts(client).sessions.of_user(alice.id)) == 1
    not_hers = client.post("/admin/users/alice/sessions/999999/end", data={"csrf_token": csrf})
    assert not_hers.status_code == 404
    everywhere = client.post("/admin/users/alice/sessions/end-all", data={"csrf_token": csrf})
    assert everywhere.status_code == 200 and "1 sessions ended" in everywhere.text
    assert accounts(client).sessions.of_user(alice.id) == []


def test_every_form_needs_the_csrf_token(client: TestClient, csrf: str) -> None:
    add_user(client.app, "alice")  # type: ignore[arg-type]
    for path, data in (
        ("/admin/users", {"name": "bob", "password": PASSWORD, "role": "viewer"}),
        ("/admin/users/alice", {"role": "admin", "display_name": "x"}),
        ("/admin/users/alice/password", {"password": "another long password"}),
        ("/admin/users/alice/disabled", {"disabled": "1"}),
        ("/admin/users/alice/remove", {}),
        ("/admin/users/alice/sessions/end-all", {}),
    ):
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf_token": "0" * 64}).status_code == 403, path
    alice = accounts(client).users.get("alice")
    assert (alice.role, alice.disabled, alice.display_name) == ("viewer", False, "alice")


@pytest.mark.parametrize("display_name", DISPLAY_NAMES)
def test_markup_in_a_display_name_is_shown_as_text_on_every_page(
    client: TestClient, display_name: str
) -> None:
    csrf = sign_in(client, "root", display_name=display_name)
    without_csrf(client)
    add_user(client.app, "alice", display_name=display_name)  # type: ignore[arg-type]
    pages = [
        client.get(path).text
        for path in (
            "/admin/devices",
            "/admin/users",
            "/admin/users/alice",
            "/admin/users/alice/remove",
            "/admin/users/alice/sessions",
            "/admin/audit",
        )
    ]
    pages.append(
        client.post("/admin/users/alice/password", data={"password": "x", "csrf_token": csrf}).text
    )
    for html in pages:
        assert display_name not in html
        assert str(escape(display_name)) in html


def test_ending_a_session_or_all_of_them_ends_their_live_streams(
    client: TestClient, csrf: str
) -> None:
    alice = add_user(client.app, "alice")  # type: ignore[arg-type]
    sessions = [
        accounts(client).sessions.create(alice, persistent=False, client="c", user_agent="a")[1]
        for _ in range(2)
    ]
    hub = client.app.state.services.hub  # type: ignore[attr-defined]
    viewers = [
        hub.open("overview", f"c{s.session_id}", None, Watcher(alice.id, s.session_id))
        for s in sessions
    ]
    client.post(
        f"/admin/users/alice/sessions/{sessions[0].session_id}/end", data={"csrf_token": csrf}
    )
    until(lambda: hub.streams.of_user(alice.id) == [viewers[1]])  # the bus told the hub
    assert viewers[0].ending and b"event: signed-out" in viewers[0]._frames[-1]
    assert not viewers[1].ending
    client.post("/admin/users/alice/sessions/end-all", data={"csrf_token": csrf})
    until(lambda: hub.streams.of_user(alice.id) == [])
    assert viewers[1].ending
