"""Events of answered requests, published in order by a task of their own.

    writer: group answered ──add──> [group][group]...[group] ──task──> publish (the bus)
                                     at most max_groups; past it the oldest is dropped

Answering a request never waits for a subscriber: the writer hands each group's
events here once its requests are answered, and a publisher that falls far behind
loses the oldest announcements (counted), never the rows, which are committed anyway.
An in-memory queue, not a durable outbox: events of answered groups not yet published
when the process dies are not announced (the live views reload from the database).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from app.telemetry.events import MeasurementInserted

logger = logging.getLogger(__name__)

Publisher = Callable[[Sequence[MeasurementInserted]], Awaitable[None]]


class Announcer:
    """Events of answered groups, published in order; the oldest dropped past a bound.

    `max_groups` (TELEMETRY_ANNOUNCE_QUEUE_GROUPS) bounds the groups waiting for the
    publisher; beyond it the oldest group's events are dropped and counted in
    `dropped`: their rows are committed either way, only the announcement is lost.
    """

    def __init__(self, publish: Publisher, *, max_groups: int) -> None:
        if max_groups < 1:
            raise ValueError("the announcer needs room for at least one group")
        self._publish = publish
        self._max_groups = max_groups
        self._groups: deque[list[MeasurementInserted]] = deque()
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.dropped = 0

    def start(self) -> None:
        """Start publishing; call from the event loop that adds."""
        self._ready = asyncio.Event()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="telemetry-publish")

    def add(self, events: list[MeasurementInserted]) -> None:
        """Queue one group's events (after its requests were answered)."""
        if not events:
            return
        assert self._ready is not None
        if len(self._groups) >= self._max_groups:
            self.dropped += len(self._groups.popleft())
        self._groups.append(events)
        self._ready.set()

    async def stop(self) -> None:
        """Publish what is queued, then stop.

        The publishing task drains the queue itself: draining from here as well would
        race it, and cancelling it mid-publish would lose the group it holds.
        """
        if self._task is None:
            return
        assert self._ready is not None
        self._stopping = True
        self._ready.set()
        task, self._task = self._task, None
        await task

    async def _run(self) -> None:
        assert self._ready is not None
        while True:
            await self._ready.wait()
            self._ready.clear()
            await self._drain()
            if self._stopping:
                return

    async def _drain(self) -> None:
        while self._groups:
            events = self._groups.popleft()
            try:
                await self._publish(events)
            except Exception:
                # The rows are committed and answered; a subscriber problem must not
                # stop the announcements of later ones.
                logger.exception("publishing %d events failed", len(events))
