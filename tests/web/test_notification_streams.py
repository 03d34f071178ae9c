"""Notifications on the raw live streams of a real server: only the recipients' streams
carry them, under their own `user:<id>` header, and nothing in a notification can
split or forge a frame."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest

from tests.factories import make_settings
from tests.raw_streams import PING, RawStream, events
from tests.servers import LiveServer, run_live_server
from tests.signing_in import Account, make_account

URL = "/api/v1/notifications"


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers, pinging often so that a quiet stream shows it."""
    settings = make_settings(
        sqlite_url, public_dashboard=False, refresh_interval=0.1, sse_ping_seconds=0.3
    )
    with run_live_server(settings) as server:
        yield server


def user_id(server: LiveServer, name: str) -> int:
    """The id of the user with this name."""
    user_id: int = server.app.state.services.accounts.users.get(name).id
    return user_id


def send(server: LiveServer, admin: Account, **body: Any) -> dict[str, Any]:
    """POST a notification with the admin's token; it must be sent."""
    answer = httpx.post(server.url + URL, json=body, headers=admin.bearer)
    assert answer.status_code == 201, answer.text
    sent: dict[str, Any] = answer.json()
    return sent


def unread_of(html: str) -> int:
    """The count a badge fragment shows."""
    match = re.search(r'data-unread="(\d+)"', html)
    assert match, html
    return int(match[1])


def opened(server: LiveServer, account: Account) -> RawStream:
    """A stream of `account` past its first snapshot (its badge)."""
    stream = RawStream(server, account)
    assert stream.status == 200
    stream.wait_for(lambda text: "event: unread" in text, timeout=5)
    return stream


def settle() -> None:
    """Let the presence frames of the streams just opened go out (a few ticks)."""
    time.sleep(0.5)


def test_a_notification_to_one_user_reaches_only_that_users_stream(server: LiveServer) -> None:
    boss = make_account(server.app, "boss", role="admin")
    maria, jonas = make_account(server.app, "maria"), make_account(server.app, "jonas")
    mine, theirs = opened(server, maria), opened(server, jonas)
    settle()
    mark_mine, mark_theirs = len(mine.received()), len(theirs.received())
    started = time.monotonic()
    sent = send(server, boss, title="For Maria", message="only you", users=["maria"])
    took = mine.wait_for(
        lambda text: "event: toast" in text and "event: unread" in text, 1.0, since=mark_mine
    )
    assert time.monotonic() - started < 1.0 and took < 1.0
    new = mine.text(mark_mine)
    private = f"user:{user_id(server, 'maria')}"
    [(route, toast)] = events(new, "toast")
    assert route == private and f'id="toast-{sent["id"]}"' in toast and "For Maria" in toast
    [(route, badge)] = events(new, "unread")
    assert route == private and unread_of(badge) == 1
    time.sleep(1.2)  # jonas's stream, read for over a second: pings only
    quiet = theirs.received()[mark_theirs:]
    assert quiet.count(PING) >= 2, quiet
    assert quiet.replace(PING, b"") == b""


def test_a_streams_first_snapshot_carries_the_users_unread_count(server: LiveServer) -> None:
    boss = make_account(server.app, "boss", role="admin")
    maria = make_account(server.app, "maria")
    make_account(server.app, "jonas")
    for title in ("one", "two"):
        send(server, boss, title=title, message="m", users=["maria"])
    send(server, boss, title="three", message="m", users=["jonas"])
    stream = opened(server, maria)
    [(route, badge)] = events(stream.text(), "unread")
    assert (route, unread_of(badge)) == (f"user:{user_id(server, 'maria')}", 2)


def test_a_notification_to_everyone_reaches_every_users_stream(server: LiveServer) -> None:
    boss = make_account(server.app, "boss", role="admin")
    streams = {name: opened(server, make_account(server.app, name)) for name in ("maria", "jonas")}
    settle()
    marks = {name: len(stream.received()) for name, stream in streams.items()}
    send(server, boss, title="All of you", message="m")
    for name, stream in streams.items():
        stream.wait_for(lambda text: "event: toast" in text, 1.0, since=marks[name])
        [(route, toast)] = events(stream.text(marks[name]), "toast")
        assert route == f"user:{user_id(server, name)}" and "All of you" in toast


def test_marking_read_in_one_tab_tells_every_tab_of_that_user(server: LiveServer) -> None:
    boss = make_account(server.app, "boss", role="admin")
    maria = make_account(server.app, "maria")
    sent = send(server, boss, title="t", message="m", users=["maria"])
    send(server, boss, title="u", message="m", users=["maria"])
    tabs = [opened(server, maria), opened(server, maria)]
    settle()
    marks = [len(tab.received()) for tab in tabs]
    answer = httpx.post(
        f"{server.url}{URL}/{sent['id']}/read",
        cookies=maria.cookies,
        headers=maria.form_headers(server.url),
    )
    assert answer.json() == {"unread": 1}
    private = f"user:{user_id(server, 'maria')}"
    for tab, mark in zip(tabs, marks, strict=True):
        tab.wait_for(lambda text: "event: read" in text, 1.0, since=mark)
        new = tab.text(mark)
        assert events(new, "read") == [(private, f'{{"ids": [{sent["id"]}]}}')]
        [(route, badge)] = events(new, "unread")
        assert (route, unread_of(badge)) == (private, 1)


def test_markup_and_line_breaks_in_a_notification_never_split_or_forge_a_frame(
    server: LiveServer,
) -> None:
    evil_name = '<script>alert("name")</script> data: evil'
    boss = make_account(server.app, "boss", role="admin", display_name=evil_name)
    maria = make_account(server.app, "maria")
    stream = opened(server, maria)
    settle()
    mark = len(stream.received())
    message = 'first\n\ndata: evil\r\nevent: read\rid: 99\n\n<script>alert("m")</script>'
    refused = httpx.post(
        server.url + URL,
        json={"title": "two\n\ndata: evil", "message": "m", "users": ["maria"]},
        headers=boss.bearer,
    )
    assert refused.status_code == 422  # a title is one line
    send(server, boss, title='<img src=x onerror="alert(1)">', message=message, users=["maria"])
    stream.wait_for(lambda text: "event: unread" in text, 1.0, since=mark)
    new = stream.text(mark)
    assert "<script>" not in new and "<img" not in new
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt; data: evil" in new
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in new
    names = [line[7:] for line in new.split("\n") if line.startswith("event: ")]
    assert names == ["topic", "toast", "unread"]  # the message's "event: read" is no event
    [block] = [b for b in new.split("\n\n") if "event: toast" in b]
    for line in block.split("\n"):
        assert line.startswith(("event: toast", "id: ", "data: ")), line
    [(_, toast)] = events(new, "toast")
    assert "data: evil" in toast and "event: read" in toast  # as text inside the one event


def blocks(text: str, *names: str) -> list[str]:
    """The frames (id, event and data lines; no comments) of the events called `names`."""
    found = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if any(line in {f"event: {name}" for name in names} for line in lines):
            found.append("\n".join(lines))
    return found


def test_a_reconnect_replays_a_notification_as_the_very_same_frames(server: LiveServer) -> None:
    boss = make_account(server.app, "boss", role="admin")
    maria = make_account(server.app, "maria")
    first = opened(server, maria)
    settle()
    seen = first.text()
    last_id = [line[4:] for line in seen.split("\n") if line.startswith("id: ")][-1]
    send(server, boss, title="Twice?", message="once", users=["maria"])
    first.wait_for(lambda text: "event: toast" in text, 1.0, since=len(seen.encode()))
    original = blocks(first.text(len(seen.encode())), "toast", "unread")
    first.close()
    again = RawStream(server, maria, headers={"Last-Event-ID": last_id})
    again.wait_for(lambda text: "event: toast" in text, 2.0)
    # The same ids and data: the page replaces the badge with the same count, and the
    # toast, known by its id, is not shown again (static/js/notify.js).
    assert blocks(again.text(), "toast", "unread") == original
    assert len(original) == 2


def test_a_restart_shows_no_toast_again_for_what_was_sent_before(sqlite_url: str) -> None:
    settings = make_settings(
        sqlite_url, public_dashboard=False, refresh_interval=0.1, sse_ping_seconds=0.3
    )
    with run_live_server(settings) as first:
        boss = make_account(first.app, "boss", role="admin")
        ann = make_account(first.app, "ann")
        send(first, boss, title="Vent", message="check it", users=["ann"])
        read = httpx.post(first.url + URL + "/read-all", headers=ann.bearer)
        assert read.json() == {"unread": 0}
    # The same database, a new server (a deploy) within the window the server looks back
    # over for notifications stored by `telemetry notify`.
    with run_live_server(settings) as second:
        stream = RawStream(second, ann)
        time.sleep(1.5)  # three looks for notifications stored elsewhere
        toasts = events(stream.whole(), "toast")
        stream.close()
    assert toasts == [], "a notification from before the restart, read already, came back"
