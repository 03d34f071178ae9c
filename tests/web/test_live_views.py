"""Tabs sharing their browser's stream, through a real server: joining, leaving, presence."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx2 as httpx
import pytest

from tests.factories import add_device, make_settings
from tests.presence_lists import Lists, frames
from tests.servers import LiveServer, run_live_server
from tests.signing_in import Account, make_account


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers, ticking fast."""
    settings = make_settings(sqlite_url, public_dashboard=False, refresh_interval=0.1)
    with run_live_server(settings) as server:
        yield server


class RawStream:
    """A stream read in a thread: its raw text, and its events with their routes."""

    def __init__(self, server: LiveServer, account: Account, query: str) -> None:
        self.text = ""
        self._opened = threading.Event()
        url = f"{server.url}/events?{query}"
        self._thread = threading.Thread(target=self._read, args=(url, account), daemon=True)
        self._thread.start()
        assert self._opened.wait(5), "the stream did not open"

    def _read(self, url: str, account: Account) -> None:
        with httpx.stream("GET", url, cookies=account.cookies, timeout=30) as response:
            assert response.status_code == 200
            self._opened.set()
            for chunk in response.iter_text():
                self.text += chunk

    def events(self) -> list[tuple[str, str, str]]:
        """(route, event, data) of each whole event so far."""
        whole = self.text[: self.text.rfind("\n\n") + 2]
        return frames(whole)

    def lists(self) -> Lists:
        """The presence lists the stream shows so far."""
        seen = Lists()
        seen.read(self.text[: self.text.rfind("\n\n") + 2])
        return seen

    def wait_until(self, check: Callable[[Lists], bool], timeout: float = 3.0) -> float:
        """Wait until the lists pass `check`; returns when (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self.lists()):
                return time.monotonic()
            time.sleep(0.02)
        raise AssertionError(f"the lists never passed the check: {self.lists().lists}")

    def wait_for(self, event: str, contains: str = "", timeout: float = 3.0) -> str:
        """The data of the first `event` holding `contains`, waiting for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, name, data in self.events():
                if name == event and contains in data:
                    return data
            time.sleep(0.02)
        raise AssertionError(f"no {event!r} with {contains!r} in time: {self.text[-2000:]}")

    def stream_id(self) -> str:
        return str(json.loads(self.wait_for("stream"))["stream"])


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
    leader = RawStream(server, maria, "topic=overview&tab=t1&view=v1")
    answer = join(server, maria, leader.stream_id(), tab="t2", view="v2", device="greenhouse")
    assert answer.status_code == 200, answer.text
    topic = answer.json()["topic"]
    assert topic.startswith("device:")
    leader.wait_for("resync")
    routes = {(route, event) for route, event, _ in leader.events()}
    assert ("view:v1 overview", "grid") in routes
    assert (f"view:v2 {topic}", "resync") in routes, "the joined tab's snapshot, for it alone"
    assert not any(e == "grid" and r != "view:v1 overview" for r, e in routes)
    # Both tabs, one stream: the header counts two tabs of Maria.
    leader.wait_until(lambda seen: seen.shown() == [("Maria", 2)])


def test_joining_is_refused_clearly(server: LiveServer) -> None:
    maria = make_account(server.app, "maria")
    jonas = make_account(server.app, "jonas")
    stream = RawStream(server, maria, "page=other&tab=t1&view=v1").stream_id()
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
    stranger = httpx.post(server.url + "/events/views/leave", data={"view": "v1"})
    assert stranger.status_code == 401


def test_a_tab_that_says_it_leaves_is_gone_from_the_header_within_two_seconds(
    server: LiveServer,
) -> None:
    maria = make_account(server.app, "maria", display_name="Maria")
    jonas = make_account(server.app, "jonas", display_name="Jonas")
    watcher = RawStream(server, maria, "page=other&tab=m1&view=m1")
    RawStream(server, jonas, "page=other&tab=j1&view=j1")
    watcher.wait_until(lambda seen: seen.shown() == [("Jonas", 1), ("Maria", 1)])
    started = time.monotonic()
    left = httpx.post(
        server.url + "/events/views/leave",
        data={"view": "j1", "tab": "j1", "csrf_token": jonas.csrf},
        cookies=jonas.cookies,
        headers={"Origin": server.url},
    )
    assert left.status_code == 204
    gone = watcher.wait_until(lambda seen: seen.shown() == [("Maria", 1)])
    assert gone - started < 2.0, "Jonas was still shown 2 s after his tab said it went"


def test_the_presence_api_lists_each_user_once_with_their_pages(server: LiveServer) -> None:
    add_device(server.app, "greenhouse")
    admin = make_account(server.app, "root", role="admin", display_name="Root")
    maria = make_account(server.app, "maria", display_name="Maria")
    first = RawStream(server, maria, "topic=overview&tab=t1&view=v1")
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
        hers = RawStream(server, maria, "topic=overview&tab=t1&view=v1")
        mine = RawStream(server, admin, "topic=overview&tab=t2&view=v2")
        mine.wait_until(lambda seen: ("Maria", 1) in seen.shown())
        time.sleep(0.5)
        assert not [e for _, e, _ in hers.events() if e.startswith(("presence", "watchers"))]
        page = httpx.get(server.url + "/", cookies=maria.cookies).text
        assert 'id="presence"' not in page
