"""A viewer wired to its socket: real TCP connections on loopback, read on the far end."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from app.live.send_queue import socket_fd, unacknowledged
from app.live.viewers import WIRE_BACKLOG, Viewer, http_chunk

pytestmark = pytest.mark.anyio

# A frame three times the backlog bound, as a large fleet's grid.
BIG_GRID = b"event: grid\ndata: " + b"<article></article>" * (3 * WIRE_BACKLOG // 19) + b"\n\n"


@pytest.fixture
async def wire() -> AsyncIterator[tuple[asyncio.Transport, socket.socket]]:
    """The server's end of a loopback TCP connection as a wire, and the client's end.

    Small buffers, so that a client that stops reading shows within a few frames.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    far = socket.socket()
    far.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    far.connect(listener.getsockname())
    near, _ = listener.accept()
    listener.close()
    near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    far.setblocking(False)
    transport, _ = await asyncio.get_running_loop().connect_accepted_socket(
        asyncio.Protocol, sock=near
    )
    yield transport, far
    transport.abort()
    far.close()


def held(transport: asyncio.Transport) -> int:
    """Bytes written that the far end has not acknowledged: buffered, or in the kernel."""
    return transport.get_write_buffer_size() + unacknowledged(socket_fd(transport))


def drain(far: socket.socket) -> bytes:
    """Everything the far end has received so far."""
    received = b""
    while True:
        try:
            data = far.recv(1 << 20)
        except BlockingIOError:
            return received
        if not data:
            return received
        received += data


async def wired_viewer(
    transport: asyncio.Transport, *queued: bytes, backlog: int = WIRE_BACKLOG
) -> tuple[Viewer, asyncio.Task[bytes | None]]:
    """A viewer with `queued` frames sent through next(), then wired to `transport`.

    Also returns its stream's loop, which now only waits for the end.
    """
    viewer = Viewer("overview", "c1", 8, backlog)
    for data in queued:
        viewer.push(data)
    viewer.offer_wire(lambda: transport)
    for data in queued:
        assert await viewer.next() == data  # what was queued goes first, through `send`
        assert not viewer.wired
    waiting = asyncio.create_task(viewer.next())
    await asyncio.sleep(0)
    assert viewer.wired
    return viewer, waiting


async def test_once_its_queue_is_out_a_viewer_writes_chunks_to_its_socket_in_order(
    wire: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, far = wire
    viewer, loop = await wired_viewer(transport, b"retry: 2000\n\n", b"event: grid\n\n")
    for n in range(3):
        assert viewer.push(b"event: tile-%d\n\n" % n)
    await asyncio.sleep(0.01)
    assert drain(far) == b"".join(http_chunk(b"event: tile-%d\n\n" % n) for n in range(3))
    assert http_chunk(b"abc") == b"3\r\nabc\r\n"
    viewer.close()
    assert await asyncio.wait_for(loop, 1) is None, "the stream's loop ends"


async def test_a_viewer_offered_no_socket_keeps_its_queue() -> None:
    viewer = Viewer("overview", "c1", 8)
    viewer.offer_wire(lambda: None)
    waiting = asyncio.create_task(viewer.next())
    await asyncio.sleep(0)
    assert not viewer.wired
    assert viewer.push(b"event: tile-1\n\n")
    assert await asyncio.wait_for(waiting, 1) == b"event: tile-1\n\n"


@pytest.mark.parametrize("backlog", [WIRE_BACKLOG, 64 * 1024])
async def test_a_wired_viewer_whose_client_reads_nothing_is_cut_off_at_its_backlog(
    wire: tuple[asyncio.Transport, socket.socket], backlog: int
) -> None:
    transport, _ = wire
    viewer, _ = await wired_viewer(transport, backlog=backlog)
    frame = b"data: " + b"x" * 10_000 + b"\n\n"
    pushed = 0
    while viewer.push(frame):
        pushed += 1
        held = transport.get_write_buffer_size()
        assert held <= backlog + len(frame) + 16, "never more than one frame past the bound"
    assert pushed * len(frame) > backlog, "the socket's buffers hold some too"
    assert viewer.overflowed and viewer.closed
    assert transport.is_closing(), "the connection is ended, its unsent bytes dropped"
    assert not viewer.push(frame)


async def test_a_wired_client_that_takes_nothing_is_waited_on_from_the_first_look(
    wire: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, far = wire
    viewer, _ = await wired_viewer(transport)
    assert viewer.waiting_since(100.0) == 0.0, "nothing written, nothing to wait for"
    frame = b"data: " + b"x" * 1000 + b"\n\n"
    # The client stops reading: its window closes, and what is written stays in the
    # server's kernel, where the transport's own buffer does not see it.
    for _ in range(200):
        assert viewer.push(frame)
        await asyncio.sleep(0)
    assert held(transport) > 0
    assert viewer.waiting_since(100.0) == 100.0
    assert viewer.waiting_since(105.0) == 100.0, "no progress: still waiting since the first look"
    # It reads again: progress restarts the clock, and once all is taken nothing waits.
    drain(far)
    await asyncio.sleep(0.05)
    assert viewer.waiting_since(106.0) in (0.0, 106.0)
    while held(transport):
        drain(far)
        await asyncio.sleep(0.01)
    assert viewer.waiting_since(107.0) == 0.0
    viewer.close()


async def test_a_wired_viewer_whose_client_left_closes_at_its_next_frame(
    wire: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, _ = wire
    viewer, _ = await wired_viewer(transport)
    transport.abort()  # as when the client leaves: the transport is closing
    assert not viewer.push(b"event: tile-1\n\n")
    assert viewer.closed and not viewer.overflowed


async def test_one_frame_larger_than_the_backlog_bound_still_goes_out_whole(
    wire: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, far = wire
    viewer, _ = await wired_viewer(transport)
    assert viewer.push(BIG_GRID), "a big fleet's grid is not a client falling behind"
    received = b""
    while len(received) < len(http_chunk(BIG_GRID)):
        received += drain(far)
        await asyncio.sleep(0.001)
    assert received == http_chunk(BIG_GRID)
    assert viewer.push(b": ping\n\n")
    viewer.close()


async def test_a_slow_client_still_reading_a_big_frame_is_kept_and_a_stopped_one_dropped(
    wire: tuple[asyncio.Transport, socket.socket],
) -> None:
    transport, far = wire
    viewer, _ = await wired_viewer(transport)
    assert viewer.push(BIG_GRID)
    assert transport.get_write_buffer_size() > WIRE_BACKLOG
    for _ in range(3):  # each tick, the client has taken a little more
        assert drain(far)
        await asyncio.sleep(0.01)  # the loop hands the kernel what it freed
        assert transport.get_write_buffer_size() > WIRE_BACKLOG
        assert viewer.push(b"event: tile-1\n\n"), "a slow client that reads is not dropped"
    # Now it takes nothing: the next frame finds the backlog where the last one left it.
    assert not viewer.push(b"event: tile-1\n\n")
    assert viewer.overflowed and transport.is_closing()
