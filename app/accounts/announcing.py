"""The doors of the accounts facade for notifications and chart notes: each change runs
in a thread, and is announced on the bus after its commit.

A notification is announced once per process whichever path finds it first: the send
that stored it here, or `announce_recent`, which the server polls to announce those
another process stored (`telemetry notify`). Both claim the id on the event loop, one
at a time, so neither announces what the other did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import EllipsisType

from anyio import to_thread

from app.accounts.audit import Actor
from app.accounts.events import NoteChanged, NotificationSent, NotificationsRead
from app.accounts.note_rows import NoteInfo
from app.accounts.notes import Notes
from app.accounts.notifications import NotificationInfo, Notifications
from app.accounts.users import UserInfo
from app.bus import Bus, Subscription

# Ids of the notifications announced, remembered until `announce_recent` is asked for
# later ones, and never more than this many.
ANNOUNCED_MAX = 10_000


class Announcing:
    """Notifications and notes through the facade: stored, then announced."""

    notifications: Notifications
    notes: Notes
    _bus: Bus
    _announced: dict[int, datetime]  # notification id -> created_at

    async def send_notification(
        self,
        title: str,
        message: str,
        *,
        level: str = "info",
        link: str | None = None,
        sender: UserInfo | None,
        users: Sequence[str] | None,
        actor: Actor,
    ) -> NotificationInfo:
        """Send a notification (users None: everyone), then announce it."""
        sent = await self.deliver_notification(
            title, message, level=level, link=link, sender=sender, users=users, actor=actor
        )
        return sent.notification

    async def deliver_notification(
        self,
        title: str,
        message: str,
        *,
        level: str = "info",
        link: str | None = None,
        sender: UserInfo | None,
        users: Sequence[str] | None,
        actor: Actor,
    ) -> NotificationSent:
        """send_notification, answering the event itself: one unread count per recipient."""
        sent = await to_thread.run_sync(
            lambda: self.notifications.send(
                title,
                message,
                level=level,
                link=link,
                sender_id=None if sender is None else sender.id,
                users=users,
                actor=actor,
            )
        )
        await self._announce(sent)
        return sent

    async def mark_read(self, user_id: int, ids: Sequence[int]) -> int:
        """Mark some of a user's notifications read, announce it; their unread count."""
        return (await self.read_notifications(user_id, ids)).unread

    async def read_notifications(self, user_id: int, ids: Sequence[int]) -> NotificationsRead:
        """mark_read, answering the event itself: `ids` holds those that were the user's."""
        read = await to_thread.run_sync(lambda: self.notifications.mark_read(user_id, ids))
        if read.ids:  # none of them the user's: nothing changed, nothing to tell
            await self._bus.publish(read)
        return read

    async def mark_all_read(self, user_id: int) -> int:
        """Mark all of a user's notifications read, announce it; their unread count."""
        read = await to_thread.run_sync(lambda: self.notifications.mark_all_read(user_id))
        await self._bus.publish(read)
        return read.unread

    async def announce_recent(self, since: datetime) -> list[NotificationSent]:
        """Announce the notifications created since `since` that this process has not
        announced (another process stored them); returns those."""
        recent = await to_thread.run_sync(lambda: self.notifications.recent(since))
        for notification_id, created_at in list(self._announced.items()):
            if created_at < since:  # `recent` will not return it again
                del self._announced[notification_id]
        return [sent for sent in recent if await self._announce(sent)]

    async def list_notes(self, device_name: str, start: datetime, end: datetime) -> list[NoteInfo]:
        """The device's notes overlapping [start, end], oldest first."""
        return await to_thread.run_sync(lambda: self.notes.list(device_name, start, end))

    async def add_note(
        self,
        device_name: str,
        *,
        author_id: int,
        text: str,
        starts_at: datetime,
        ends_at: datetime | None = None,
        earliest: datetime,
    ) -> NoteInfo:
        """Add a chart note, then announce it and the notification of its mentions."""
        note, sent = await to_thread.run_sync(
            lambda: self.notes.add(
                device_name,
                author_id=author_id,
                text=text,
                starts_at=starts_at,
                ends_at=ends_at,
                earliest=earliest,
            )
        )
        await self._note_changed(note, sent)
        return note

    async def update_note(
        self,
        note_id: int,
        *,
        editor_id: int,
        editor_is_admin: bool,
        text: str | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | EllipsisType | None = ...,
        earliest: datetime,
    ) -> NoteInfo:
        """Change a chart note, then announce it and whom it newly mentions."""
        note, sent = await to_thread.run_sync(
            lambda: self.notes.update(
                note_id,
                editor_id=editor_id,
                editor_is_admin=editor_is_admin,
                text=text,
                starts_at=starts_at,
                ends_at=ends_at,
                earliest=earliest,
            )
        )
        await self._note_changed(note, sent)
        return note

    async def delete_note(self, note_id: int, *, editor_id: int, editor_is_admin: bool) -> NoteInfo:
        """Delete a chart note, then announce it gone; returns it as it was."""
        note = await to_thread.run_sync(
            lambda: self.notes.delete(note_id, editor_id=editor_id, editor_is_admin=editor_is_admin)
        )
        await self._bus.publish(NoteChanged(note.device_id, None, note.id))
        return note

    def subscribe_notifications(self, maxsize: int) -> Subscription[NotificationSent]:
        """NotificationSent events from now on (each notification once per process)."""
        return self._bus.subscribe(NotificationSent, maxsize=maxsize)

    def subscribe_reads(self, maxsize: int) -> Subscription[NotificationsRead]:
        """NotificationsRead events from now on."""
        return self._bus.subscribe(NotificationsRead, maxsize=maxsize)

    def subscribe_notes(self, maxsize: int) -> Subscription[NoteChanged]:
        """NoteChanged events from now on."""
        return self._bus.subscribe(NoteChanged, maxsize=maxsize)

    async def _note_changed(self, note: NoteInfo, sent: NotificationSent | None) -> None:
        await self._bus.publish(NoteChanged(note.device_id, note, note.id))
        if sent is not None:
            await self._announce(sent)

    async def _announce(self, sent: NotificationSent) -> bool:
        """Publish `sent` unless this process already did; True if it published."""
        notification = sent.notification
        if notification.id in self._announced:
            return False
        self._announced[notification.id] = notification.created_at
        while len(self._announced) > ANNOUNCED_MAX:
            del self._announced[next(iter(self._announced))]  # the first remembered
        await self._bus.publish(sent)
        return True
