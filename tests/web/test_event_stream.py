"""The event stream's own mechanics, with `send` and `receive` standing for the client.

A `send` that never completes stands for a client whose buffers are full, so these
tests need no megabytes of backlog; tests/web/test_direct_write.py does the same with
real sockets on a real server.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Send

from app.bus import InProcessBus
from app.live.hub import GUEST, OVERVIEW, SHUTDOWN_GRACE, LiveHub
from app.live.streams import PING
from app.live.viewers import Viewer
from app.main import create_app
from app.telemetry.events import MeasurementInserted
from app.web.direct_write import DirectWrite
from app.web.event_stream import FINAL_SEND_TIMEOUT, HubStream
from tests.factories import FakeClock, add_device, make_hub, make_settings

pytestmark = pytest.mark.anyio


class Client:
    """The client side of one stream: what it was sent, and whether it has left."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.left = asyncio.Event()

    async def receive(self) -> Message:
        await self.left.wait()
        return {"type": "http.disconnect"}

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages)


def hub_viewer(hub: LiveHub) -> Viewer:
    """The one stream the hub holds."""
    (viewer,) = [v for v in hub.streams.viewers()]
    return viewer


async def run_stream(
    hub: LiveHub, address: str, client: Client, send: Send
) -> tuple[Viewer, asyncio.Task[None]]:
    """An overview stream as a server would run it (no direct writes: no socket)."""
    stream = HubStream(hub, (OVERVIEW, address, None), (GUEST, "", ""), DirectWrite(enabled=True))
    task = asyncio.create_task(stream({"type": "http"}, client.receive, send))
    await asyncio.sleep(0)  # the response opens its viewer as it starts
    assert stream.viewer is not None
    return stream.viewer, task


async def test_a_stream_sends_its_snapshot_then_updates_and_ends_when_its_client_leaves() -> None:
    hub = make_hub(FakeClock())
    hub.load([])
    client = Client()

    async def send(message: Message) -> None:
        client.messages.append(message)

    _, stream = await run_stream(hub, "c1", client, send)
    await asyncio.sleep(0)
    hub.ping()
    await asyncio.sleep(0)
    client.left.set()
    await asyncio.wait_for(stream, 2)
    start = client.messages[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert client.body().startswith(b"retry: ")
    assert client.body().endswith(PING)
    assert client.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert hub.viewer_count() == 0, "forgotten once its response ended"


async def test_a_stream_stuck_in_a_send_is_ended_once_and_leaves_when_its_send_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    hub = make_hub(FakeClock(), send_timeout=5.0)
    hub.load([])
    client = Client()
    first_write = asyncio.Event()
    connection_ended = asyncio.Event()

    async def send(message: Message) -> None:
        client.messages.append(message)
        if message["type"] == "http.response.body" and not first_write.is_set():
            first_write.set()
            await connection_ended.wait()  # the client's buffer is full and stays full

    viewer, stream = await run_stream(hub, "192.0.2.7", client, send)
    await asyncio.wait_for(first_write.wait(), 2)
    now = asyncio.get_running_loop().time()
    assert hub.drop_stalled(now + 4) == 0, "within the send timeout"
    assert hub.drop_stalled(now + 6) == 1
    assert viewer.closed and viewer.stalled
    assert hub.viewer_count() == 1, "still sending: the send timeout still watches it"
    connection_ended.set()  # the kernel's user timeout ends the connection
    client.left.set()
    await asyncio.wait_for(stream, 2)  # ends quietly: no exception reaches the server
    assert hub.viewer_count() == 0
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.INFO,
            "ended the live stream of 192.0.2.7 on overview: it accepted nothing for 5 s "
            "(TELEMETRY_SSE_SEND_TIMEOUT); it gets a snapshot when it reconnects",
        )
    ]


async def test_a_reading_viewer_is_never_taken_for_stalled() -> None:
    hub = make_hub(FakeClock())
    hub.load([])
    client = Client()
    delivered = asyncio.Event()

    async def send(message: Message) -> None:
        client.messages.append(message)
        if message.get("body", b"").startswith(b"retry: "):
            delivered.set()

    viewer, stream = await run_stream(hub, "c1", client, send)
    await asyncio.wait_for(delivered.wait(), 2)
    await asyncio.sleep(0)
    assert viewer.sending_since == 0.0  # no write under way between frames
    assert hub.drop_stalled(asyncio.get_running_loop().time() + 100) == 0
    client.left.set()
    await asyncio.wait_for(stream, 2)


async def test_a_stream_the_server_cancels_at_shutdown_still_ends_its_response() -> None:
    hub = make_hub(FakeClock())
    hub.load([])
    client = Client()
    waiting = asyncio.Event()

    async def send(message: Message) -> None:
        client.messages.append(message)
        if message.get("body", b"").startswith(b"retry: "):
            waiting.set()

    _, stream = await run_stream(hub, "c1", client, send)
    await asyncio.wait_for(waiting.wait(), 2)
    await asyncio.sleep(0)
    stream.cancel()  # as uvicorn does when its graceful-shutdown timeout runs out
    await asyncio.wait_for(stream, 2)
    assert not stream.cancelled(), "the stream ended its response instead"
    assert client.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert hub.viewer_count() == 0


async def test_a_stream_whose_last_chunk_cannot_go_is_cut_and_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    hub = make_hub(FakeClock())
    hub.load([])
    client = Client()
    cut = asyncio.Event()

    async def send(message: Message) -> None:
        client.messages.append(message)
        if message.get("more_body") is False:
            await cut.wait()  # the client's window is shut: only a cut ends this write

    _, stream = await run_stream(hub, "c1", client, send)
    await asyncio.sleep(0)
    viewer = hub_viewer(hub)
    viewer.offer_wire(lambda: None, cut.set)  # what cuts this stream's connection
    await asyncio.sleep(0)
    stream.cancel()  # uvicorn's graceful shutdown gives up on it
    await asyncio.wait_for(stream, FINAL_SEND_TIMEOUT + 2)
    assert not stream.cancelled() and cut.is_set()
    assert hub.viewer_count() == 0
    assert "cut the live stream of c1 on overview: it took nothing while the server shut down" in (
        caplog.messages
    )


async def test_on_shutdown_streams_still_sending_after_a_grace_are_cut() -> None:
    hub = make_hub(FakeClock())
    hub.load([])
    bus = InProcessBus()
    await hub.start(bus.subscribe(MeasurementInserted))
    try:
        taking, stuck = hub.open(OVERVIEW, "a", None), hub.open(OVERVIEW, "b", None)
        cuts: list[str] = []
        stuck.offer_wire(lambda: None, lambda: cuts.append("b"))
        hub.end_streams()
        assert taking.closed and stuck.closed and not stuck.stalled
        hub.close(taking)  # its response ended with its last chunk
        await asyncio.sleep(SHUTDOWN_GRACE + 0.2)
        assert stuck.stalled and cuts == ["b"], "still sending after the grace: cut"
    finally:
        await hub.stop()
        await bus.aclose()


@pytest.mark.parametrize(
    ("query", "where", "says"),
    [
        ({"device": "x" * 65}, ["query", "device"], "at most 64 characters"),
        ({"device": "green\x07house"}, ["query", "device"], "control characters"),
        ({"device": "a/b"}, ["query", "device"], "'/'"),
        ({"device": "   "}, ["query", "device"], "cannot be empty"),
        ({"topic": "x" * 100}, ["query", "topic"], "the only topic is `overview`"),
        ({"topic": "over\nview"}, ["query", "topic"], "the only topic is `overview`"),
        ({}, ["query", "topic"], "ask for `topic=overview`, `device=NAME` or `page=other`"),
        ({"page": "admin"}, ["query", "page"], "the only page is `other`"),
        ({"topic": "overview", "tab": "a b"}, ["query", "tab"], "1 to 40 letters"),
        ({"topic": "overview", "view": "v" * 41}, ["query", "view"], "1 to 40 letters"),
    ],
)
def test_malformed_stream_requests_are_refused_with_what_was_wrong_and_where(
    sqlite_url: str, query: dict[str, str], where: list[str], says: str
) -> None:
    with TestClient(create_app(make_settings(sqlite_url))) as client:
        response = client.get("/events", params=query)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == where
    assert says in error["msg"]


def test_an_unknown_but_well_formed_device_is_not_found(sqlite_url: str) -> None:
    app = create_app(make_settings(sqlite_url))
    with TestClient(app) as client:
        add_device(app, "greenhouse")
        response = client.get("/events", params={"device": "cellar"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no device is named 'cellar'"}


async def test_pings_and_the_send_timeout_keep_their_own_pace_whatever_the_refresh() -> None:
    hub = make_hub(
        FakeClock(),
        refresh_interval=60.0,  # the slowest allowed: no tick comes during this test
        replay_frames=8,
        queue_frames=8,
        ping_seconds=0.5,
        send_timeout=0.3,
    )
    hub.load([])
    bus = InProcessBus()
    await hub.start(bus.subscribe(MeasurementInserted))
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
