"""Events the accounts context publishes on the bus, after the change is committed.

SessionsEnded       a user's sessions were ended (sign-out everywhere, a disabled or
                    removed user, one session ended by an admin, a sign-out). Every
                    worker closes its own live streams of those sessions when it hears it.
NotificationSent    a notification was stored with one delivery per recipient; carries
                    every recipient's unread count after it (their badge).
NotificationsRead   a user read some of their notifications, or all of them.
NoteChanged         a chart note was added, changed or deleted (note None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # they are defined next to the code that makes them, which imports these
    from app.accounts.notes import NoteInfo
    from app.accounts.notifications import NotificationInfo


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """Sessions of `user_id` ended: those in `session_ids`, or all of them when None."""

    topic: ClassVar[str] = "sessions_ended"

    user_id: int
    session_ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class NotificationSent:
    """A notification stored; `unread` holds (user id, their unread count after it) for
    every recipient, in user id order."""

    topic: ClassVar[str] = "notification_sent"

    notification: NotificationInfo
    unread: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class NotificationsRead:
    """User `user_id` read the notifications `ids` (None: all of theirs); `unread` is
    how many they have left unread."""

    topic: ClassVar[str] = "notifications_read"

    user_id: int
    unread: int
    ids: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class NoteChanged:
    """Note `note_id` on device `device_id` was added or changed (`note`), or deleted
    (`note` None)."""

    topic: ClassVar[str] = "note_changed"

    device_id: int
    note: NoteInfo | None
    note_id: int
