"""The outbox: events of answered requests, published in order by a task of their own.

Answering a request never waits for a subscriber: the writer hands each group's
events here once its requests are answered, and a publisher that falls far behind
loses the oldest announcements (counted), never the rows, which are committed anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from app.telemetry.events import MeasurementInserted

logger = logging.getLogger(__name__)

Publisher = Callable[[Sequence[MeasurementInserted]], Awaitable[None]]

# Groups of events waiting for the publisher task; beyond this the oldest are dropped
# (and counted): their rows are committed either way, only the announcement is lost.
_OUTBOX_GROUPS = 10_000


class Outbox:
    """Events of answered groups, published in order; the oldest dropped past a bound."""

    def __init__(self, publish: Publisher) -> None:
        self._publish = publish
        self._groups: deque[list[MeasurementInserted]] = deque()
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        """Start publishing; call from the event loop that adds."""
        self._ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="telemetry-publish")

    def add(self, events: list[MeasurementInserted]) -> None:
        """Queue one group's events (after its requests were answered)."""
        if not events:
            return
        assert self._ready is not None
        if len(self._groups) >= _OUTBOX_GROUPS:
            self.dropped += len(self._groups.popleft())
        self._groups.append(events)
        self._ready.set()

    async def stop(self) -> None:
        """Publish what is queued, then stop."""
        await self._drain()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        assert self._ready is not None
        while True:
            await self._ready.wait()
            self._ready.clear()
            await self._drain()

    async def _drain(self) -> None:
        while self._groups:
            events = self._groups.popleft()
            try:
                await self._publish(events)
            except Exception:
                # The rows are committed and answered; a subscriber problem must not
                # stop the announcements of later ones.
                logger.exception("publishing %d events failed", len(events))
