"""A live viewer: one open event stream, its topic and a small bounded buffer.

Kept as small as it can be (a list, a future only while waiting, a few fields) because
a server holds thousands of them. A viewer that falls `limit` frames behind is ended
rather than buffered: its browser reconnects and gets a snapshot, which is always
correct, and nobody else waits for it.

Once its first frames are out, a viewer may be wired to its connection (see
app/web/direct_write.py): from then on `push` writes the frame, framed as an HTTP chunk,
straight to the socket, instead of waking the stream's coroutine to pass it through the
ASGI server's `send`. At 10,000 viewers that turn through the event loop was most of the
cost of a delivery (docs/benchmarks.md). The stream's coroutine then only waits for the
end.

When does a client count as not reading? When the bytes written to it stay
unacknowledged, without any progress, for the send timeout: a wired viewer counts the
bytes in its transport's buffer and those its socket's kernel still holds
(send_queue.py), since the kernel grows a socket's send buffer to megabytes and the
transport alone would not see a frozen tab for minutes; a viewer that is not wired counts
the time its current `send` has been waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from app.live.send_queue import socket_fd, unacknowledged

# The default of TELEMETRY_SSE_BACKLOG_BYTES: what a wired viewer may leave in its
# transport's buffer (bytes the kernel would not take) before it is dropped if it takes
# nothing more: a client this far behind gets a snapshot when it reconnects. A client
# that takes nothing at all is also ended by the send timeout, whatever it holds.
WIRE_BACKLOG = 256 * 1024


@runtime_checkable
class Wire(Protocol):
    """The connection a wired viewer writes to: the part of an asyncio transport it uses.

    The transport itself, not a wrapper: `push` calls these for every viewer at every
    update, and a wrapper's extra call was a tenth of the cost of a delivery.
    """

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def is_closing(self) -> bool: ...

    def abort(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


def http_chunk(data: bytes) -> bytes:
    """`data` as one chunk of a chunked HTTP/1.1 body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Viewer:
    """The frames waiting for one stream."""

    __slots__ = (
        "_abort",
        "_acked",
        "_backlog",
        "_backlog_limit",
        "_fd",
        "_frames",
        "_limit",
        "_offer",
        "_waiter",
        "_wire",
        "_written",
        "client",
        "closed",
        "ending",
        "name",
        "overflowed",
        "reported",
        "sees_presence",
        "sending_since",
        "session_id",
        "stalled",
        "stream_id",
        "topic",
        "topics",
        "user_id",
        "views",
    )

    def __init__(
        self,
        topic: str,
        client: str,
        limit: int,
        backlog_limit: int = WIRE_BACKLOG,
        *,
        user_id: int = 0,
        session_id: int = 0,
    ) -> None:
        self.topic = topic  # the page it was opened for (named in the log)
        # Every topic it carries (Streams keeps it): its tabs' pages, its user's own
        # topic, presence; and the tabs it carries, view id -> page topic (hub.py).
        self.topics: set[str] = {topic}
        self.views: dict[str, str] = {}
        self.stream_id = ""
        self.name = ""  # its user's display name, for presence
        self.sees_presence = False
        self.client = client
        # Who watches: 0 for nobody signed in (a public dashboard), and the session the
        # stream was opened with (minus the personal token's id for a token), so that
        # ending a user's sessions or tokens can end their streams (Streams.end_sessions).
        self.user_id = user_id
        self.session_id = session_id
        self.closed = False
        self.ending = False  # its last frame is queued: the stream ends once it is sent
        self.overflowed = False
        self.stalled = False
        self.reported = False  # its end has been counted and logged
        # Loop time since which a write has waited without the client taking anything:
        # set by the stream around each `send`, or, once wired, by `waiting_since`.
        self.sending_since = 0.0
        self._frames: list[bytes] = []
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self._offer: Callable[[], Wire | None] | None = None
        self._abort: Callable[[], None] | None = None
        self._wire: Wire | None = None
        self._backlog = 0  # bytes the transport held after the last write
        self._backlog_limit = backlog_limit
        self._fd = -1  # the wire's socket, to ask its kernel what it still holds
        self._written = 0  # bytes written to the wire
        self._acked = 0  # of those, how many the client had acknowledged at the last look

    @property
    def wired(self) -> bool:
        """True once frames go straight to the transport."""
        return self._wire is not None

    def offer_wire(
        self, wire: Callable[[], Wire | None], abort: Callable[[], None] | None = None
    ) -> None:
        """Write to the connection `wire()` gives once the queued frames are sent.

        Called when the stream starts; `wire` is asked when the queue first runs empty
        (the response has started by then) and may answer None: the stream then goes on
        through `send`. `abort`, if given, cuts the connection of a stream that stopped
        reading before it was wired.
        """
        self._offer = wire
        self._abort = abort

    def push(self, data: bytes, chunk: bytes | None = None) -> bool:
        """Queue bytes for the stream; False if it is closed (now, being too far behind).

        `chunk` is `data` framed by http_chunk, when the caller sends the same bytes to
        many viewers and frames them once.
        """
        if self.closed:
            return False
        wire = self._wire
        if wire is not None:
            return self._write(wire, http_chunk(data) if chunk is None else chunk)
        if len(self._frames) >= self._limit:
            self.overflowed = True
            self.close()
            return False
        self._frames.append(data)
        self._wake()
        return True

    def close(self) -> None:
        """End the stream; whatever is still queued is discarded."""
        self.closed = True
        self._frames.clear()
        self._wake()

    def finish(self, data: bytes) -> None:
        """Send `data` after what is queued, then end the stream (the page is told why)."""
        if self.closed or self.ending:
            return
        if self._wire is not None:
            self._write(self._wire, http_chunk(data))
            self.close()
            return
        self._frames.append(data)
        self.ending = True
        self._wake()

    async def next(self) -> bytes | None:
        """The next bytes to send, or None once the viewer is closed."""
        while not self._frames:
            if self.closed or self.ending:
                return None
            if self._offer is not None:
                # Every frame so far has been handed to the transport: from here on the
                # bytes go straight to it, in order, and this waits for the end.
                self._wire, self._offer = self._offer(), None
                if self._wire is not None:
                    self._fd = socket_fd(self._wire)
                continue
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._frames.pop(0)

    def stall(self) -> None:
        """End a stream whose client stopped reading; its connection is cut if it can be.

        Without a way to cut it (a server whose connections a viewer cannot reach), the
        stream's pending `send` ends when the connection does; the kernel's user timeout
        (app/serving.py) bounds that.
        """
        self.stalled = True
        self.close()
        abort = self._wire.abort if self._wire is not None else self._abort
        if abort is not None:
            abort()  # the unsent bytes go; the server sees the connection end

    def waiting_since(self, now: float) -> float:
        """Loop time since which the client has taken nothing of a pending write (0: none).

        A wired viewer looks at its wire, `now` being the time of the look: any bytes the
        client acknowledged since the previous look count as progress.
        """
        wire = self._wire
        if wire is None:
            return self.sending_since
        if wire.is_closing():  # its descriptor may already belong to another connection
            return 0.0
        pending = wire.get_write_buffer_size() + unacknowledged(self._fd)
        if not pending:
            self.sending_since = 0.0
            return 0.0
        acked = self._written - pending
        if acked > self._acked or not self.sending_since:
            self._acked = acked
            self.sending_since = now
        return self.sending_since

    def pending(self) -> int:
        """Frames waiting to be sent."""
        return len(self._frames)

    def _write(self, wire: Wire, chunk: bytes) -> bool:
        if wire.is_closing():  # the client left; its stream is ending
            self.close()
            return False
        # A client is too far behind when over the bound it took nothing since the last
        # frame: one that reads slowly through a big frame (the grid of a large fleet)
        # is still moving, and only the send timeout may end it.
        before = wire.get_write_buffer_size()
        if before > self._backlog_limit and before >= self._backlog:
            self.overflowed = True
            self.stall()
            return False
        wire.write(chunk)
        self._written += len(chunk)
        self._backlog = wire.get_write_buffer_size()
        return True

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
