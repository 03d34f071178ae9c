"""The inbox page through a real server: the user's own notifications, newest first,
paged, unread ones marked in words; marking read with plain forms, no script needed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from app.accounts import CLI
from tests.factories import make_settings
from tests.servers import LiveServer, run_live_server
from tests.signing_in import Account, make_account


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers."""
    with run_live_server(make_settings(sqlite_url, public_dashboard=False)) as server:
        yield server


def notify(server: LiveServer, title: str, *users: str, **fields: str) -> int:
    """Store a notification from the system, as `telemetry notify` does; its id."""
    sent = server.app.state.services.accounts.notifications.send(
        title,
        fields.get("message", "a message"),
        level=fields.get("level", "info"),
        link=fields.get("link"),
        sender_id=None,
        users=list(users) or None,
        actor=CLI,
    )
    notification_id: int = sent.notification.id
    return notification_id


def page(server: LiveServer, account: Account, query: str = "") -> str:
    """The inbox page as the account's browser gets it."""
    answer = httpx.get(f"{server.url}/inbox{query}", cookies=account.cookies)
    assert answer.status_code == 200, answer.text
    return answer.text


def titles(html: str) -> list[str]:
    """The titles listed, in order."""
    return re.findall(r'class="inbox-title"[^>]*>([^<]*)</h2>', html)


def test_the_inbox_lists_the_users_own_notifications_newest_first_marking_unread(
    server: LiveServer,
) -> None:
    maria = make_account(server.app, "maria")
    make_account(server.app, "jonas")
    old = notify(server, "Old news", "maria", level="critical", link="/devices/shed")
    notify(server, "Not for Maria", "jonas")
    notify(server, "Fresh", "maria", message="see https://example.com/x and /devices/shed")
    server.app.state.services.accounts.notifications.mark_read(
        server.app.state.services.accounts.users.get("maria").id, [old]
    )
    html = page(server, maria)
    assert titles(html) == ["Fresh", "Old news"]
    assert html.count(">New</span>") == 1 and "1 unread of 2" in html
    assert html.count('action="/inbox/read"') == 1 and 'action="/inbox/read-all"' in html
    assert (
        '<a href="https://example.com/x"' in html
        and 'From <span class="inbox-sender">System' in html
    )
    assert '<a class="button inbox-open" href="/devices/shed">Open</a>' in html
    assert "Critical" in html and re.search(r'<time datetime="[^"]+Z" data-absolute>', html)


def test_an_empty_inbox_says_so(server: LiveServer) -> None:
    html = page(server, make_account(server.app, "maria"))
    assert "No notifications yet" in html and "Mark all read" not in html


def test_the_inbox_pages_by_twenty_with_previous_and_next(server: LiveServer) -> None:
    maria = make_account(server.app, "maria")
    for number in range(45):
        notify(server, f"n{number}", "maria")
    first = page(server, maria)
    assert titles(first) == [f"n{k}" for k in range(44, 24, -1)]
    assert 'href="/inbox?page=2">Older' in first and 'rel="prev"' not in first
    second = page(server, maria, "?page=2")
    assert titles(second)[0] == "n24" and 'href="/inbox">' in second
    third = page(server, maria, "?page=3")
    assert titles(third) == [f"n{k}" for k in range(4, -1, -1)] and 'rel="next"' not in third
    assert "Page 3 of 3" in third


def test_markup_in_a_notification_is_shown_escaped(server: LiveServer) -> None:
    maria = make_account(server.app, "maria")
    notify(server, "<b>bold</b>", "maria", message='<script>alert("x")</script>\nline two')
    html = page(server, maria)
    assert "<script>alert" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;\nline two" in html


def test_mark_read_and_mark_all_read_are_forms_that_come_back_with_303(
    server: LiveServer,
) -> None:
    maria = make_account(server.app, "maria")
    first = notify(server, "one", "maria")
    for title in ("two", "three"):
        notify(server, title, "maria")
    form = {"csrf_token": maria.csrf, "id": str(first), "page": "1"}
    headers = {"Origin": server.url}
    read = httpx.post(server.url + "/inbox/read", data=form, cookies=maria.cookies, headers=headers)
    assert (read.status_code, read.headers["location"]) == (303, "/inbox")
    assert "2 unread of 3" in page(server, maria)
    everything = httpx.post(
        server.url + "/inbox/read-all",
        data={"csrf_token": maria.csrf, "page": "2"},
        cookies=maria.cookies,
        headers=headers,
    )
    assert (everything.status_code, everything.headers["location"]) == (303, "/inbox?page=2")
    assert "0 unread of 3" in page(server, maria)


def test_a_form_without_the_csrf_token_is_refused(server: LiveServer) -> None:
    maria = make_account(server.app, "maria")
    notify(server, "one", "maria")
    refused = httpx.post(
        server.url + "/inbox/read-all", cookies=maria.cookies, headers={"Origin": server.url}
    )
    assert refused.status_code == 403
    assert "1 unread of 1" in page(server, maria)


def test_the_inbox_is_never_public(sqlite_url: str) -> None:
    with run_live_server(make_settings(sqlite_url, public_dashboard=True)) as server:
        answer = httpx.get(server.url + "/inbox")
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/inbox"
