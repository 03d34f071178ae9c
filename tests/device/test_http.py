"""The standard-library HTTP client against real sockets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from device.http import Client, Response, TransportError, check_url
from tests.servers import LiveServer


def test_an_answer_carries_status_headers_and_body(live_server: LiveServer) -> None:
    client = Client(live_server.url, timeout=5, user_agent="test")
    answer = client.post_json(
        "/api/v1/measurements/batch", b'{"measurements": []}', {"Authorization": "Bearer nope"}
    )
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert b"detail" in answer.body


def test_a_refused_connection_says_so() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        client = Client(f"http://127.0.0.1:{port}", timeout=5, user_agent="test")
        with pytest.raises(TransportError, match="refused the connection"):
            client.post_json("/x", b"{}", {})


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        client = Client(f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=0.2, user_agent="t")
        with pytest.raises(TransportError, match=r"did not answer within 0.2 s"):
            client.post_json("/x", b"{}", {})


def test_an_unresolvable_host_says_to_check_the_url() -> None:
    client = Client("http://no-such-host.invalid", timeout=2, user_agent="test")
    with pytest.raises(TransportError, match="check the server URL"):
        client.post_json("/x", b"{}", {})


class _ClosesAfterAnswering(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    paths: list[str] = []  # noqa: RUF012  (shared by the handler instances of one test)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.paths.append(self.path)
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        # Like an idle keep-alive timeout: the connection goes away without a word.
        self.close_connection = True

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def closing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosesAfterAnswering)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/prefix"
    server.shutdown()
    server.server_close()


def test_a_kept_alive_connection_the_server_closed_is_replaced(closing_server: str) -> None:
    client = Client(closing_server, timeout=5, user_agent="test")
    assert [client.post_json("/a", b"{}", {}).status for _ in range(3)] == [201, 201, 201]
    assert _ClosesAfterAnswering.paths[-3:] == ["/prefix/a"] * 3


@pytest.mark.parametrize("url", ["ftp://x", "telemetry.lan", "http://", "http://x/?a=1"])
def test_a_server_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(ValueError, match=r"URL|query"):
        check_url(url)


@pytest.mark.parametrize("url", ["http://localhost:abc", "http://localhost:99999"])
def test_a_server_url_needs_a_valid_port(url: str) -> None:
    with pytest.raises(ValueError, match="no valid port"):
        check_url(url)


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), ("²", None), ("-3", None), ("", None)])
def test_retry_after_is_whole_seconds_or_nothing(value: str, seconds: float | None) -> None:
    assert Response(429, {"retry-after": value}, b"").retry_after() == seconds


def test_a_trailing_slash_is_ignored() -> None:
    assert check_url("https://telemetry.lan/") == "https://telemetry.lan"


class _LongAnswer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    connections: set[int] = set()  # noqa: RUF012  (shared by the handler instances of one test)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.connections.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.mark.parametrize(("size", "read", "connections"), [(1024, 1024, 1), (1025, 1024, 2)])
def test_an_answer_is_read_up_to_its_bound_and_a_longer_one_ends_the_connection(
    size: int, read: int, connections: int
) -> None:
    _LongAnswer.body = b"x" * size
    _LongAnswer.connections = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LongAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = Client(
            f"http://127.0.0.1:{server.server_address[1]}",
            timeout=5,
            user_agent="test",
            max_response_bytes=1024,
        )
        answers = [client.post_json("/x", b"{}", {}) for _ in range(2)]
        client.close()
    finally:
        server.shutdown()
        server.server_close()
    assert [len(a.body) for a in answers] == [read, read]
    # An answer longer than the bound is not the server's: its rest is never read, and
    # the next request goes on a new connection.
    assert len(_LongAnswer.connections) == connections
