"""End to end through a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from tests.factories import add_device, make_settings
from tests.servers import LiveServer, run_live_server

# Yesterday: recent enough for the server to take (it refuses what it no longer keeps).
DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def count_rows(server: LiveServer) -> int:
    with server.app.state.services.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM measurements")).scalar_one())


def test_concurrent_posts_are_stored_in_shared_transactions(live_server: LiveServer) -> None:
    tokens = [add_device(live_server.app, f"pi-{i}") for i in range(20)]

    async def post_all() -> list[int]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:

            async def post(i: int) -> int:
                body = {
                    "measured_at": f"{DAY}T10:{i // 60:02d}:{i % 60:02d}Z",
                    "values": {"temperature": 20 + i / 100, "humidity": 50.0},
                }
                headers = {"Authorization": f"Bearer {tokens[i % 20]}"}
                response = await client.post("/api/v1/measurements", json=body, headers=headers)
                return response.status_code

            return await asyncio.gather(*(post(i) for i in range(400)))

    codes = asyncio.run(post_all())
    assert codes == [201] * 400
    assert count_rows(live_server) == 800
    stats = live_server.app.state.services.measurements.stats
    assert stats.requests == 400
    assert stats.commits < 200, "concurrent requests should share commits"


@contextmanager
def batch_begun(server: LiveServer, token: str, declared: int, start: bytes) -> Iterator[Any]:
    """A raw connection that sent a batch's headers (Content-Length `declared`) and `start`."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/measurements/batch HTTP/1.1\r\n"
            b"Host: test\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Length: %d\r\n\r\n" % declared + start
        )
        yield sock


def test_an_oversized_body_is_refused_before_it_is_sent(live_server: LiveServer) -> None:
    token = add_device(live_server.app, "greenhouse")
    with batch_begun(live_server, token, 100_000_000, b'{"measurements": [') as sock:
        started = time.monotonic()
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "connection: close" in answer.lower()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("trusted", "expected"), [("127.0.0.1", [201, 201]), ("", [201, 429])])
def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    sqlite_url: str, trusted: str, expected: list[int]
) -> None:
    settings = make_settings(sqlite_url, rate_limit_ip="1/minute", trusted_proxies=trusted)
    with run_live_server(settings) as server:
        token = add_device(server.app, "greenhouse")
        codes = []
        for i, address in enumerate(["198.51.100.1", "198.51.100.2"]):
            response = httpx.post(
                server.url + "/api/v1/measurements",
                json={"measured_at": f"{DAY}T10:00:0{i}Z", "values": {"t": 1.0}},
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": address},
            )
            codes.append(response.status_code)
    assert codes == expected


def test_ingest_works_end_to_end_on_postgresql(postgres_url: str) -> None:
    with run_live_server(make_settings(postgres_url)) as server:
        token = add_device(server.app, "greenhouse")
        headers = {"Authorization": f"Bearer {token}"}
        body = {
            "measurements": [
                {"measured_at": f"{DAY}T10:00:{s:02d}Z", "values": {"t": 1.0}} for s in range(30)
            ]
        }
        first = httpx.post(server.url + "/api/v1/measurements/batch", json=body, headers=headers)
        again = httpx.post(server.url + "/api/v1/measurements/batch", json=body, headers=headers)
        device = httpx.get(server.url + "/api/v1/devices/greenhouse").json()
    assert (first.status_code, first.json()) == (201, {"stored": 30, "duplicates": 0})
    assert (again.status_code, again.json()) == (200, {"stored": 0, "duplicates": 30})
    assert device["latest"]["t"]["measured_at"] == f"{DAY}T10:00:29Z"


def test_a_client_that_hangs_up_mid_body_stores_nothing(live_server: LiveServer) -> None:
    token = add_device(live_server.app, "greenhouse")
    with batch_begun(live_server, token, 5000, b'{"measurements": [{"values": {"t": 1.0}},'):
        pass  # and hang up
    time.sleep(0.5)
    assert count_rows(live_server) == 0
    answer = httpx.post(
        live_server.url + "/api/v1/measurements",
        json={"values": {"t": 1.0}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, "the server carries on"
    assert count_rows(live_server) == 1
