"""A live viewer: one open event stream, its topic and a small bounded buffer.

Kept as small as it can be (a list, a future only while waiting, a few fields) because
a server holds thousands of them. A viewer that falls `limit` frames behind is dropped
rather than buffered: its browser reconnects and gets a snapshot, which is always
correct, and nobody else waits for it.
"""

from __future__ import annotations

import asyncio


class Viewer:
    """The frames waiting for one stream."""

    __slots__ = (
        "_frames",
        "_limit",
        "_waiter",
        "client",
        "closed",
        "overflowed",
        "sending_since",
        "stalled",
        "task",
        "topic",
    )

    def __init__(self, topic: str, client: str, limit: int) -> None:
        self.topic = topic
        self.client = client
        self.closed = False
        self.overflowed = False
        # Set by the stream while a write is under way (event-loop time), so that the hub
        # can end streams whose client stopped reading (see LiveHub.drop_stalled).
        self.sending_since = 0.0
        self.stalled = False
        self.task: asyncio.Task[object] | None = None
        self._frames: list[bytes] = []
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None

    def push(self, data: bytes) -> bool:
        """Queue bytes for the stream; False (and the viewer closes) if it is too far behind."""
        if self.closed:
            return False
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

    async def next(self) -> bytes | None:
        """The next bytes to send, or None once the viewer is closed."""
        while not self._frames:
            if self.closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._frames.pop(0)

    def stall(self) -> None:
        """End a stream whose client stopped reading: its pending write is cancelled."""
        self.stalled = True
        self.close()
        if self.task is not None:
            self.task.cancel()

    def pending(self) -> int:
        """Frames waiting to be sent."""
        return len(self._frames)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
