"""Tabs sharing their browser's stream, through a real server: joining, leaving, presence."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from tests.factories import add_device, make_settings
from tests.raw_streams import RawStream, frames
from tests.servers import LiveServer, run_live_server
from tests.signing_in import Account, make_account


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers, ticking fast."""
    settings = make_settings(sqlite_url, public_dashboard=False, refresh_interval=0.1)
    with run_live_server(settings) as server:
        yield server


def join(server: LiveServer, account: Account, stream: str, **fields: str) -> httpx.Response:
    return httpx.post(
        server.url + "/events/views",
        data={"stream": stream, **fields},
        cookies=account.cookies,
        headers=account.form_headers(server.url),
    )


def test_a_tab_joins_its_browsers_stream_and_gets_its_own_snapshot(server: LiveServer) -> None:
    add_device(server.app, "greenhouse")
    maria = make_account(server.app, "maria", display_name="Maria")
    leader = RawStream(server, maria, query="topic=overview&tab=t1&view=v1")
    answer = join(server, maria, leader.stream_id(), tab="t2", view="v2", device="greenhouse")
    assert answer.status_code == 200, answer.text
    topic = answer.json()["topic"]
    assert topic.startswith("device:")
    leader.wait_for(lambda text: "event: resync" in text, 3)
    routes = {(route, event) for route, event, _ in frames(leader.whole())}
    assert ("view:v1 overview", "grid") in routes
    assert (f"view:v2 {topic}", "resync") in routes, "the joined tab's snapshot, for it alone"
    assert not any(e == "grid" and r != "view:v1 overview" for r, e in routes)
    # Both tabs, one stream: the header counts two tabs of Maria.
    leader.wait_for_lists(lambda seen: seen.shown() == [("Maria", 2)])


def test_joining_is_refused_clearly(server: LiveServer) -> None:
    maria = make_account(server.app, "maria")
    jonas = make_account(server.app, "jonas")
    stream = RawStream(server, maria, query="page=other&tab=t1&view=v1").stream_id()
    others = join(server, jonas, stream, tab="t9", view="v9", page="other")
    assert others.status_code == 403 and "another session" in others.json()["detail"]
    gone = join(server, maria, "no-such-stream", tab="t9", view="v9", page="other")
    assert gone.status_code == 404 and "not open" in gone.json()["detail"]
    bad = join(server, maria, stream, tab="a b", view="v9", page="other")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "tab"]
    nothing = join(server, maria, stream, tab="t9", view="v9")
    assert nothing.status_code == 422 and nothing.json()["detail"][0]["loc"] == ["body", "topic"]
    ghost = join(server, maria, stream, tab="t9", view="v9", device="ghost")
    assert ghost.status_code == 404
    forged = httpx.post(
        server.url + "/events/views",
        data={"stream": stream, "tab": "t9", "view": "v9", "page": "other"},
        cookies=maria.cookies,
    )
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    stranger = httpx.post(server.url + "/events/views/leave", data={"view": "v1", "stream": stream})
    assert stranger.status_code == 401
    cross_site = httpx.post(
        server.url + "/events/views/leave",
        data={"view": "not an id"},  # refused for where it comes from, before its fields
        cookies=maria.cookies,
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403


def test_a_tab_that_says_it_leaves_is_gone_from_the_header_within_two_seconds(
    server: LiveServer,
) -> None:
    maria = make_account(server.app, "maria", display_name="Maria")
    jonas = make_account(server.app, "jonas", display_name="Jonas")
    watcher = RawStream(server, maria, query="page=other&tab=m1&view=m1")
    his = RawStream(server, jonas, query="page=other&tab=j1&view=j1")
    watcher.wait_for_lists(lambda seen: seen.shown() == [("Jonas", 1), ("Maria", 1)])
    started = time.monotonic()
    left = httpx.post(
        server.url + "/events/views/leave",
        data={"view": "j1", "tab": "j1", "stream": his.stream_id(), "csrf_token": jonas.csrf},
        cookies=jonas.cookies,
        headers={"Origin": server.url},
    )
    assert left.status_code == 204
    gone = watcher.wait_for_lists(lambda seen: seen.shown() == [("Maria", 1)])
    assert gone - started < 2.0, "Jonas was still shown 2 s after his tab said it went"


def test_the_presence_api_lists_each_user_once_with_their_pages(server: LiveServer) -> None:
    add_device(server.app, "greenhouse")
    admin = make_account(server.app, "root", role="admin", display_name="Root")
    maria = make_account(server.app, "maria", display_name="Maria")
    first = RawStream(server, maria, query="topic=overview&tab=t1&view=v1")
    join(server, maria, first.stream_id(), tab="t2", view="v2", device="greenhouse")
    assert httpx.get(server.url + "/api/v1/presence", headers=maria.bearer).status_code == 403
    answer = httpx.get(server.url + "/api/v1/presence", headers=admin.bearer)
    assert answer.status_code == 200
    assert answer.json() == {
        "users": [
            {
                "user": "maria",
                "display_name": "Maria",
                "tabs": 2,
                "since": answer.json()["users"][0]["since"],
                "pages": [
                    {"page": "device", "device": "greenhouse", "tabs": 1},
                    {"page": "overview", "device": None, "tabs": 1},
                ],
            }
        ],
        "guests": 0,
    }


def test_presence_can_be_kept_for_admins(sqlite_url: str) -> None:
    settings = make_settings(
        sqlite_url, public_dashboard=False, refresh_interval=0.1, presence_admins_only=True
    )
    with run_live_server(settings) as server:
        admin = make_account(server.app, "root", role="admin", display_name="Root")
        maria = make_account(server.app, "maria", display_name="Maria")
        hers = RawStream(server, maria, query="topic=overview&tab=t1&view=v1")
        mine = RawStream(server, admin, query="topic=overview&tab=t2&view=v2")
        mine.wait_for_lists(lambda seen: ("Maria", 1) in seen.shown())
        time.sleep(0.5)
        assert not [e for _, e, _ in frames(hers.whole()) if e.startswith(("presence", "watchers"))]
        page = httpx.get(server.url + "/", cookies=maria.cookies).text
        assert 'id="presence"' not in page


def test_a_guest_cannot_take_another_guests_tab_off_its_stream(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, public_dashboard=True, refresh_interval=0.1)
    with run_live_server(settings) as server:
        guest = Account("", "", "", "")  # no cookie: a guest of a public dashboard
        victim = RawStream(server, guest, query="topic=overview&tab=tabA&view=viewA")
        stream = victim.stream_id()
        hub = server.app.state.services.hub
        # Another guest (another browser, or any page: a guest has no CSRF token).
        forged = httpx.post(
            server.url + "/events/views/leave", data={"view": "viewA", "stream": "x"}
        )
        assert forged.status_code == 204
        assert any("viewA" in viewer.views for viewer in hub.streams.viewers())
        own = httpx.post(
            server.url + "/events/views/leave", data={"view": "viewA", "stream": stream}
        )
        assert own.status_code == 204
        assert not any("viewA" in viewer.views for viewer in hub.streams.viewers())
        victim.close()
