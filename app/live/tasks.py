"""The hub's three tasks: follow the bus, tick, keep the streams alive.

Pings and the send timeout run on their own timer, not the tick's: the refresh
interval may be a minute, and neither may wait that long. They do run right after a
tick when one comes in time: a look at every stream (a system call each, for the
wired ones) taking its turn in the middle of a tick's fan-out would delay that
tick's updates to thousands of viewers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from app.bus import Subscription
from app.telemetry import MeasurementInserted

if TYPE_CHECKING:  # the hub starts these tasks
    from app.live.hub import LiveHub

logger = logging.getLogger(__name__)

STALL_CHECK = 1.0  # seconds between looks for streams whose client takes nothing
# A round waits at most this long for a tick to follow (less with pings more frequent).
TICK_WAIT = STALL_CHECK / 2
# Pings are due this much before their interval is up (and the wait for a tick), so
# that a proxy that closes streams idle for TELEMETRY_SSE_PING_SECONDS never sees that
# much silence.
PING_EARLY = 0.2


async def follow(hub: LiveHub, events: Subscription[MeasurementInserted]) -> None:
    """Fold every stored measurement into the hub's views."""
    async for event in events:
        if not hub.is_removed(event.device_id, event.device):  # its last, late events
            hub.apply(event)


async def tick_forever(hub: LiveHub, interval: float, ticked: asyncio.Event) -> None:
    """Render and send what changed, every `interval` seconds; set `ticked` after each."""
    while True:
        await asyncio.sleep(interval)
        try:
            hub.tick()
        except Exception:
            logger.exception("a live update failed; the next tick tries again")
        ticked.set()


async def keep_alive_forever(hub: LiveHub, ping_seconds: float, ticked: asyncio.Event) -> None:
    """End streams that take nothing (every STALL_CHECK s); ping all (every ping_seconds).

    Each round runs just after the first tick past its time (`ticked`), or at most
    TICK_WAIT later without one.
    """
    loop = asyncio.get_running_loop()
    tick_wait = min(TICK_WAIT, ping_seconds / 4)
    interval = max(ping_seconds - tick_wait - PING_EARLY, ping_seconds / 2)
    next_ping = loop.time() + interval
    next_check = loop.time() + STALL_CHECK
    while True:
        due = min(next_check, next_ping)
        await asyncio.sleep(max(0.0, due - loop.time()))
        ticked.clear()
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel that
        # comes as the tick does, and the hub's stop would wait for this loop forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(tick_wait):
                await ticked.wait()
        next_check = loop.time() + STALL_CHECK
        try:
            hub.drop_stalled(loop.time())
            if loop.time() >= next_ping:
                hub.ping()
                next_ping = loop.time() + interval
        except Exception:
            logger.exception("keeping live streams alive failed; trying again")
