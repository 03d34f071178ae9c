"""Live streams on a real uvicorn server, written to their sockets directly and through `send`.

Each test runs both ways: with TELEMETRY_SSE_DIRECT_WRITE on (the default, and what
10,000 viewers need) and off. If uvicorn changes the internals app/web/direct_write.py
reads, the "direct" runs fail here rather than silently going the slow way.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.factories import add_device, make_settings
from tests.servers import LiveServer, run_live_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=[True, False], ids=["direct", "send"])
def direct(request: pytest.FixtureRequest) -> bool:
    """Whether live streams are written straight to their sockets."""
    value: bool = request.param
    return value


def until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Wait for `condition`; returns how long it took, fails after `seconds`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, what
        time.sleep(0.02)
    return time.monotonic() - started


def metric(server: LiveServer, name: str) -> float:
    """One value from the server's /metrics page."""
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


def open_raw_stream(server: LiveServer, receive_buffer: int | None = None) -> socket.socket:
    """A raw client socket that asked for the overview stream and read its headers."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(5)
    sock.connect((host, int(port)))
    sock.sendall(b"GET /events?topic=overview HTTP/1.1\r\nHost: test\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


@contextmanager
def posting_all_along(server: LiveServer) -> Iterator[None]:
    """A thread posting a reading every few milliseconds while the block runs."""
    token = add_device(server.app, "greenhouse")
    stop = threading.Event()

    def run() -> None:
        with httpx.Client(base_url=server.url) as client:
            value = 0.0
            while not stop.is_set():
                value += 0.1
                client.post(
                    "/api/v1/measurements",
                    json={"values": {"temperature": round(value % 100, 1)}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                stop.wait(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def test_a_stream_is_wired_only_when_direct_writes_are_on(sqlite_url: str, direct: bool) -> None:
    settings = make_settings(sqlite_url, refresh_interval=0.1, sse_direct_write=direct)
    with run_live_server(settings) as server:
        token = add_device(server.app, "greenhouse")
        with httpx.stream("GET", server.url + "/events?topic=overview", timeout=10) as stream:
            lines = stream.iter_lines()
            for value in (21.5, 22.5, 23.5):  # each update in order, whole
                httpx.post(
                    server.url + "/api/v1/measurements",
                    json={"values": {"temperature": value}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                while f"{value}" not in next(lines):
                    pass
            assert metric(server, "telemetry_live_viewers_wired") == int(direct)
            assert metric(server, "telemetry_live_direct_write") == int(direct)
        until(lambda: server.app.state.services.hub.viewer_count() == 0, 5, "client left")


def test_a_client_that_stops_reading_is_ended_within_the_send_timeout(
    sqlite_url: str,
    direct: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A frozen tab: its kernel still acknowledges, its window closes, and the server's
    # kernel would take megabytes before any buffer the application sees filled up.
    caplog.set_level(logging.INFO)
    settings = make_settings(
        sqlite_url, refresh_interval=0.05, sse_send_timeout=1.0, sse_direct_write=direct
    )
    with run_live_server(settings) as server, posting_all_along(server):
        hub = server.app.state.services.hub
        frozen = open_raw_stream(server, receive_buffer=4096)
        with frozen:
            took = until(lambda: hub.viewer_count() == 0, 12, "the frozen stream was not ended")
            assert took < 12
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        assert errors == [], [r.getMessage() for r in errors]
        ended = [r.getMessage() for r in caplog.records if r.name == "app.live.streams"]
        if direct:  # the hub saw it take nothing, and cut it
            assert ended == [
                "ended the live stream of 127.0.0.1 on overview: it accepted nothing for 1 s "
                "(TELEMETRY_SSE_SEND_TIMEOUT); it gets a snapshot when it reconnects"
            ]
        else:  # the kernel's user timeout may cut it before the hub sees its send block
            assert len(ended) <= 1


def test_a_slow_reader_that_keeps_reading_is_kept(sqlite_url: str, direct: bool) -> None:
    settings = make_settings(
        sqlite_url, refresh_interval=0.05, sse_send_timeout=1.0, sse_direct_write=direct
    )
    with run_live_server(settings) as server, posting_all_along(server):
        hub = server.app.state.services.hub
        with open_raw_stream(server, receive_buffer=4096) as reader:
            finish = time.monotonic() + 3  # three send timeouts
            while time.monotonic() < finish:
                assert reader.recv(512), "the stream ended"
                time.sleep(0.01)
            assert hub.viewer_count() == 1


def test_behind_a_proxy_under_a_root_path_streams_are_still_answered(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The proxy strips /dash; uvicorn's scope then has root_path "/dash" and the path
    # "/dash/events", which the stream middleware must still recognise.
    with run_live_server(make_settings(sqlite_url), root_path="/dash") as server:
        hub = server.app.state.services.hub
        with httpx.stream("GET", server.url + "/events?topic=overview", timeout=10) as r:
            assert r.status_code == 200
            lines = r.iter_lines()  # held: a dropped iterator closes the connection
            assert next(lines).startswith("retry: ")
            assert hub.viewer_count() == 1
        for _ in range(3):  # refused ones register nothing
            assert httpx.get(server.url + "/events?topic=nope").status_code == 422
        until(lambda: hub.viewer_count() == 0, 5, "the stream was not forgotten")
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_shutdown_with_a_client_that_stopped_reading_ends_cleanly_and_at_once(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A send timeout longer than the server's graceful shutdown: the hub must not wait
    # for it (tests/web/test_event_stream.py cuts a stream whose last chunk cannot go).
    caplog.set_level(logging.INFO)
    settings = make_settings(sqlite_url, refresh_interval=0.05, sse_send_timeout=30.0)
    with run_live_server(settings) as server, posting_all_along(server):
        hub = server.app.state.services.hub
        frozen = open_raw_stream(server, receive_buffer=4096)
        reader = open_raw_stream(server)
        until(lambda: hub.viewer_count() == 2, 5, "two streams")
        time.sleep(0.5)  # enough updates that the frozen client's window is shut
        started = time.monotonic()
        server.server.handle_exit(signal.SIGTERM, None)
        until(lambda: hub.viewer_count() == 0, 4, "the streams were not ended")
        took = time.monotonic() - started
        frozen.close()
        reader.close()
    assert took < 4, "well within the graceful shutdown's 5 s"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == [], [r.getMessage() for r in errors]


def start_server(
    command: list[str], tmp_path: Path, **environ: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Run a server process on a free port until /readyz answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    env["TELEMETRY_DATABASE_URL"] = f"sqlite:///{tmp_path / 't.db'}"
    # Streams, not access, are tested here.
    env["TELEMETRY_PUBLIC_DASHBOARD"] = env["TELEMETRY_METRICS_PUBLIC"] = "1"
    env.update(environ)
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], env=env, cwd=tmp_path, check=True)
    process = subprocess.Popen(
        [part.replace("{port}", str(port)) for part in command],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert process.poll() is None, process.communicate()[1].decode()
        try:
            return httpx.get(url + "/readyz").status_code == 200
        except httpx.TransportError:
            return False

    until(ready, 30, "the server did not start")
    return process, url


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "ends_within", "server_says"),
    [
        ([sys.executable, "-m", "app.cli", "serve", "--port", "{port}"], 2.0, None),
        # A bare uvicorn has no exit handler of ours: streams end at its graceful timeout,
        # and uvicorn says it cancelled them (its own line; the stream still ends whole).
        (
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "app.main:create_app_from_env",
                "--port",
                "{port}",
                "--timeout-graceful-shutdown",
                "2",
            ],
            4.5,
            "Cancel 1 running task(s), timeout graceful shutdown exceeded",
        ),
    ],
    ids=["telemetry-serve", "bare-uvicorn"],
)
def test_sigterm_ends_open_streams_cleanly_and_the_server_exits(
    tmp_path: Path, direct: bool, command: list[str], ends_within: float, server_says: str | None
) -> None:
    process, url = start_server(
        command, tmp_path, TELEMETRY_SSE_DIRECT_WRITE="1" if direct else "0"
    )
    try:
        with httpx.stream("GET", url + "/events?topic=overview", timeout=10) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("retry: ")
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            for _ in lines:  # the stream must end with its last chunk, not be cut off
                pass
            ended = time.monotonic() - started
        process.wait(timeout=10)
        assert ended < ends_within
        log = process.communicate()[1].decode()
        assert "Traceback" not in log, log
        errors = [line for line in log.splitlines() if line.startswith("ERROR")]
        assert errors == ([f"ERROR:    {server_says}"] if server_says else []), log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
