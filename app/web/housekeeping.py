"""The server's background work: new devices, retention, and the streams of ended sessions."""

from __future__ import annotations

import asyncio
import logging

from fastapi.concurrency import run_in_threadpool

from app.accounts import SessionsEnded
from app.bus import Subscription
from app.telemetry import StorageUnavailable
from app.web.deps import Services, show_new_devices

logger = logging.getLogger("app.main")

RETENTION_FIRST_DELAY = 60.0  # seconds after start
RETENTION_PERIOD = 3600.0
NEW_DEVICE_POLL = 5.0  # seconds between looks for devices registered meanwhile
# Seconds between checks that the sessions of open live streams still hold: ends the
# streams of sessions ended where the bus does not reach (the CLI) or expired.
SESSION_RECHECK = 30.0


async def follow_new_devices(services: Services) -> None:
    """Every few seconds, show devices registered since (from the CLI, another worker)."""
    while True:
        await asyncio.sleep(NEW_DEVICE_POLL)
        failed = await show_new_devices(services)
        if failed is not None:
            logger.warning("could not look for new devices: %s", failed.reason)


async def prune_forever(services: Services) -> None:
    """Run the retention pass a minute after start, then every hour."""
    await asyncio.sleep(RETENTION_FIRST_DELAY)
    while True:
        try:
            await run_in_threadpool(services.retention.prune)
            settings = services.settings
            await run_in_threadpool(
                services.accounts.prune,
                settings.audit_retention_days,
                settings.notification_retention_days,
            )
        except StorageUnavailable as exc:
            logger.warning("retention skipped this hour: %s", exc.reason)
        await asyncio.sleep(RETENTION_PERIOD)


async def end_streams_of_ended_sessions(
    services: Services, ended: Subscription[SessionsEnded]
) -> None:
    """Close the live streams of sessions ended anywhere (this worker or another)."""
    async for event in ended:
        services.hub.streams.end_sessions(event.user_id, event.session_ids)


async def recheck_stream_sessions(services: Services) -> None:
    """Every SESSION_RECHECK s, end the streams whose session or token no longer holds."""
    while True:
        await asyncio.sleep(SESSION_RECHECK)
        held = services.hub.streams.session_ids()
        if not held:
            continue
        # Positive: a session's id; negative: minus a personal token's (Viewer.session_id).
        sessions = sorted(i for i in held if i > 0)
        tokens = sorted(-i for i in held if i < 0)
        accounts = services.accounts
        try:
            valid = await run_in_threadpool(accounts.sessions.still_valid, sessions)
            valid_tokens = await run_in_threadpool(accounts.tokens.still_valid, tokens)
        except StorageUnavailable:
            continue  # a database outage ends nobody's stream
        gone = held - valid - {-t for t in valid_tokens}
        if gone:
            services.hub.streams.end_sessions(None, gone)
