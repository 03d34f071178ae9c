"""The hub's three tasks: follow the bus, tick, keep the streams alive.

Pings and the send timeout run on their own timer, not the tick's: the refresh
interval may be a minute, and neither may wait that long.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from app.bus import Subscription
from app.telemetry import MeasurementInserted

if TYPE_CHECKING:  # the hub starts these tasks
    from app.live.hub import LiveHub

logger = logging.getLogger(__name__)

STALL_CHECK = 1.0  # seconds between looks for streams whose client takes nothing
# Pings go out this much before their interval is up, so that a proxy that closes
# streams idle for TELEMETRY_SSE_PING_SECONDS never sees that much silence.
PING_EARLY = 0.2


async def follow(hub: LiveHub, events: Subscription[MeasurementInserted]) -> None:
    """Fold every stored measurement into the hub's views."""
    async for event in events:
        hub.apply(event)


async def tick_forever(hub: LiveHub, interval: float) -> None:
    """Render and send what changed, every `interval` seconds."""
    while True:
        await asyncio.sleep(interval)
        try:
            hub.tick()
        except Exception:
            logger.exception("a live update failed; the next tick tries again")


async def keep_alive_forever(hub: LiveHub, ping_seconds: float) -> None:
    """End streams that take nothing (every STALL_CHECK s); ping all (every ping_seconds)."""
    loop = asyncio.get_running_loop()
    interval = max(ping_seconds - PING_EARLY, PING_EARLY)
    next_ping = loop.time() + interval
    while True:
        await asyncio.sleep(max(0.0, min(STALL_CHECK, next_ping - loop.time())))
        try:
            hub.drop_stalled(loop.time())
            if loop.time() >= next_ping:
                hub.ping()
                next_ping = loop.time() + interval
        except Exception:
            logger.exception("keeping live streams alive failed; trying again")
