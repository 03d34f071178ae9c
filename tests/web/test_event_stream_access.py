"""Live streams and sessions: a stream needs one, and ends with it, telling its page."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest

from app.accounts import CLI
from app.web import housekeeping
from tests.factories import add_device, make_settings
from tests.servers import LiveServer, post_reading, run_live_server
from tests.signing_in import Account, make_account


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real server closed to strangers."""
    settings = make_settings(sqlite_url, public_dashboard=False, refresh_interval=0.1)
    with run_live_server(settings) as server:
        yield server


class Stream:
    """An overview stream read in a thread: its bytes, and when it ended."""

    def __init__(self, server: LiveServer, account: Account, *, token: bool = False) -> None:
        self.data = b""
        self.ended_at = 0.0
        self.status = 0
        self._opened = threading.Event()
        self._thread = threading.Thread(
            target=self._read, args=(server, account, token), daemon=True
        )
        self._thread.start()
        assert self._opened.wait(5), "the stream did not open"

    def _read(self, server: LiveServer, account: Account, token: bool) -> None:
        url = server.url + "/events?topic=overview"
        credentials = {"headers": account.bearer} if token else {"cookies": account.cookies}
        with httpx.stream("GET", url, timeout=10, **credentials) as response:  # type: ignore[arg-type]
            self.status = response.status_code
            self._opened.set()
            for chunk in response.iter_raw():
                self.data += chunk
        self.ended_at = time.monotonic()

    def join(self, timeout: float) -> bool:
        """True once the stream has ended, waiting at most `timeout` s."""
        self._thread.join(timeout)
        return not self._thread.is_alive()


def test_a_stream_without_a_session_is_refused(server: LiveServer) -> None:
    response = httpx.get(server.url + "/events?topic=overview")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_signing_out_ends_that_sessions_streams_at_once_and_tells_the_page(
    server: LiveServer,
) -> None:
    maria = make_account(server.app, "maria")
    other_tab = make_account(server.app, "jonas")
    mine, theirs = Stream(server, maria), Stream(server, other_tab)
    assert mine.status == theirs.status == 200
    started = time.monotonic()
    signed_out = httpx.post(
        server.url + "/logout",
        cookies=maria.cookies,
        headers={"X-CSRF-Token": maria.csrf, "Origin": server.url},
    )
    assert signed_out.status_code == 303
    assert mine.join(timeout=1.0), "the stream outlived its session by more than 1 s"
    assert mine.ended_at - started < 1.0
    assert mine.data.rstrip().endswith(b"event: signed-out\ndata: the session ended")
    assert not theirs.join(timeout=0.3), "another user's stream ended too"
    again = httpx.get(server.url + "/events?topic=overview", cookies=maria.cookies)
    assert again.status_code == 401  # the tab cannot silently rejoin


def test_a_device_name_with_markup_is_escaped_in_live_frames(server: LiveServer) -> None:
    name = '<img src=x onerror="alert(1)">'
    token = add_device(server.app, name)
    maria = make_account(server.app, "maria")
    stream = Stream(server, maria)
    post_reading(server, token, temperature=20.0)
    deadline = time.monotonic() + 5
    while b"tile-" not in stream.data.split(b"event: grid", 1)[-1]:
        assert time.monotonic() < deadline, "no tile frame came"
        time.sleep(0.05)
    assert name.encode() not in stream.data
    assert b"&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in stream.data


def test_a_session_ended_where_the_bus_does_not_reach_ends_its_streams_at_the_recheck(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `telemetry user disable` runs in another process: only the database hears of it.
    monkeypatch.setattr(housekeeping, "SESSION_RECHECK", 0.2)
    settings = make_settings(sqlite_url, public_dashboard=False)
    with run_live_server(settings) as server:
        make_account(server.app, "boss", role="admin")
        maria = make_account(server.app, "maria")
        stream = Stream(server, maria)
        server.app.state.services.accounts.users.update("maria", actor=CLI, disabled=True)
        assert stream.join(timeout=2.0), "the stream outlived its session"
        assert stream.data.rstrip().endswith(b"event: signed-out\ndata: the session ended")


@pytest.mark.parametrize("change", ["revoke the token", "disable the user"])
def test_a_stream_opened_with_a_personal_token_ends_when_the_token_stops_working(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    monkeypatch.setattr(housekeeping, "SESSION_RECHECK", 0.2)
    settings = make_settings(sqlite_url, public_dashboard=False)
    with run_live_server(settings) as server:
        make_account(server.app, "boss", role="admin")
        maria = make_account(server.app, "maria")
        stream = Stream(server, maria, token=True)
        assert stream.status == 200
        accounts = server.app.state.services.accounts
        if change == "revoke the token":
            accounts.tokens.revoke("maria", maria.token[:12], actor=CLI)
        else:
            accounts.users.update("maria", actor=CLI, disabled=True)
        assert stream.join(timeout=2.0), "the stream outlived its token"
