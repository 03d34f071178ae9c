"""From what the accounts context announces to what the open tabs show.

    notification stored ──commit──> NotificationSent ──> toast rendered once ──> hub.notify
    notifications read  ──commit──> NotificationsRead ──────────────────────> hub.read
    chart note changed  ──commit──> NoteChanged ──> its JSON, once ─────────> hub.note_changed
    `telemetry notify` (another process, no bus) ──> stored ──> found within
        ANNOUNCE_POLL by announce_recent, published here ──> the same path

The events travel through the bus, so that a later bus between workers (Redis) carries
them to every worker's streams; the hub never reads the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from app.accounts import NoteChanged, NotificationSent, NotificationsRead
from app.bus import Subscription
from app.telemetry import StorageUnavailable
from app.web.deps import Services
from app.web.note_payloads import note_payload

logger = logging.getLogger("app.main")

# How often the server looks for notifications stored by another process, and how far
# back: ids are not committed in order on PostgreSQL, so a window, not "after the last".
ANNOUNCE_POLL = 0.5
ANNOUNCE_WINDOW = timedelta(seconds=30)


async def deliver_notifications(services: Services, sent: Subscription[NotificationSent]) -> None:
    """Each notification's toast, rendered once, to the tabs of its recipients."""
    async for event in sent:
        toast = services.templates.toast(event.notification)
        services.hub.notify(toast, event.unread)


async def deliver_reads(services: Services, reads: Subscription[NotificationsRead]) -> None:
    """What a user read, to every tab of theirs (the badge, and the toasts to close)."""
    async for event in reads:
        services.hub.read(event.user_id, event.unread, event.ids)


async def deliver_notes(services: Services, notes: Subscription[NoteChanged]) -> None:
    """A chart note added, changed or deleted, to the tabs of its device's page."""
    async for event in notes:
        if event.note is None:
            data = json.dumps({"deleted": event.note_id})
        else:
            data = json.dumps({"note": note_payload(event.note)}, default=str)
        services.hub.note_changed(event.device_id, data)


async def announce_from_elsewhere(services: Services) -> None:
    """Every ANNOUNCE_POLL s, announce notifications another process stored.

    Only those stored since this server started: what was stored before (announced by
    the server that ran then, or while none ran) is in the inboxes and the badges, and
    shown again as toasts after a restart, read or not, it would be news twice.
    """
    started = services.clock()
    failing = False
    while True:
        await asyncio.sleep(ANNOUNCE_POLL)
        try:
            since = max(started, services.clock() - ANNOUNCE_WINDOW)
            await services.accounts.announce_recent(since)
        except StorageUnavailable as exc:
            if not failing:
                logger.warning("cannot look for notifications sent from the CLI: %s", exc.reason)
            failing = True
            continue
        if failing:
            logger.info("notifications sent from the CLI are announced again")
        failing = False
