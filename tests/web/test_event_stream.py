"""The event stream's own mechanics: a client that stops reading is ended by the hub.

uvicorn's `send` blocks while a client's socket buffer is full; here a `send` that
never completes stands for such a client, so the test needs no megabytes of backlog.
That is the path of a stream's first frames, and of every frame on a server whose
sockets a viewer cannot reach (tests/live/test_viewers.py covers the wired one).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from sse_starlette.sse import SendTimeoutError
from starlette.testclient import TestClient
from starlette.types import Message, Send

from app.bus import InProcessBus
from app.live.hub import OVERVIEW, LiveHub
from app.live.streams import PING
from app.live.viewers import Viewer
from app.main import create_app
from app.telemetry.events import MeasurementInserted
from app.web.event_stream import HubStream
from app.web.templating import Templates
from tests.factories import FakeClock, make_hub, make_settings

pytestmark = pytest.mark.anyio


def run_stream(viewer: Viewer, send: Send) -> asyncio.Task[None]:
    """The viewer's HubStream as uvicorn would run it, with `send` as the client side."""

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client never disconnects by itself
        raise AssertionError("unreachable")

    async def body() -> AsyncIterator[bytes]:
        while (data := await viewer.next()) is not None:
            yield data

    stream = HubStream(viewer, body(), ping=0)
    return asyncio.create_task(stream({"type": "http"}, receive, send))


async def test_a_viewer_that_takes_nothing_is_ended_after_the_send_timeout() -> None:
    hub = make_hub(FakeClock())
    hub.load([])
    viewer = hub.open(OVERVIEW, "c1", None)
    first_write = asyncio.Event()
    delivered: list[Message] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            first_write.set()
            await asyncio.Event().wait()  # the client's buffer is full and stays full
        delivered.append(message)

    loop = asyncio.get_running_loop()
    stream = run_stream(viewer, send)
    await asyncio.wait_for(first_write.wait(), 2)
    assert hub.drop_stalled(loop.time() + 1) == 1  # its write began before this deadline
    with pytest.raises(SendTimeoutError):
        await asyncio.wait_for(stream, 2)
    assert viewer.closed and viewer.stalled
    assert hub.viewer_count() == 0
    assert [m["type"] for m in delivered] == ["http.response.start"]


async def test_a_reading_viewer_is_never_taken_for_stalled() -> None:
    hub = make_hub(FakeClock())
    hub.load([])
    viewer = hub.open(OVERVIEW, "c1", None)
    delivered: list[bytes] = []

    async def send(message: Message) -> None:
        delivered.append(message.get("body", b""))

    stream = run_stream(viewer, send)
    await asyncio.sleep(0.05)
    assert viewer.sending_since == 0.0  # no write under way between frames
    assert hub.drop_stalled(asyncio.get_running_loop().time() + 1) == 0
    viewer.close()
    await asyncio.wait_for(stream, 2)
    assert b"".join(delivered).startswith(b"retry: ")


def test_streams_are_answered_before_routing(sqlite_url: str) -> None:
    # The documented route would refuse a 65-character name as too long (422); the
    # middleware that answers streams first looks it up and finds no such device (404).
    with TestClient(create_app(make_settings(sqlite_url))) as client:
        response = client.get("/events", params={"device": "x" * 65})
        assert response.status_code == 404, response.text
        assert "no device is named" in response.json()["detail"]
        assert client.get("/events", params={"topic": "nonsense"}).status_code == 422


async def test_pings_and_the_send_timeout_keep_their_own_pace_whatever_the_refresh() -> None:
    hub = LiveHub(
        Templates(),
        FakeClock(),
        refresh_interval=60.0,  # the slowest allowed: no tick comes during this test
        replay_frames=8,
        replay_bytes=1 << 20,
        queue_frames=8,
        ping_seconds=0.5,
        streams_per_client=5,
        send_timeout=0.3,
    )
    hub.load([])
    bus = InProcessBus()
    await hub.start(bus.subscribe(MeasurementInserted), stopping=lambda: False)
    try:
        reader = hub.open(OVERVIEW, "reader", None)
        stuck = hub.open(OVERVIEW, "stuck", None)
        stuck.sending_since = asyncio.get_running_loop().time()  # a write that never ends
        pings: list[float] = []
        deadline = asyncio.get_running_loop().time() + 1.8
        while asyncio.get_running_loop().time() < deadline:
            data = await asyncio.wait_for(reader.next(), 2)
            if data == PING:
                pings.append(asyncio.get_running_loop().time())
        assert len(pings) >= 3
        assert max(b - a for a, b in itertools.pairwise(pings)) <= 0.5
        assert stuck.closed and stuck.stalled, "ended within the send timeout, not at a tick"
    finally:
        await hub.stop()
        await bus.aclose()
