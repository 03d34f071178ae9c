"""Notifications: stored with one delivery row per recipient, announced after commit.

"Everyone" is resolved when sent: every user not disabled at that moment gets a
delivery, so a user added later does not inherit old messages, and an unread count is
one indexed count of a user's deliveries. The facade publishes NotificationSent after
the commit; `recent` lets a server announce what another process (`telemetry notify`)
stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.accounts import audit
from app.accounts.audit import Actor
from app.accounts.events import NotificationSent, NotificationsRead
from app.accounts.models import Notification, NotificationDelivery, User
from app.accounts.notification_rules import (
    NotificationError,
    UnknownUsers,
    check_level,
    check_link,
    check_message,
    check_title,
)
from app.accounts.user_rules import is_user_name
from app.db import translate_storage_errors
from app.telemetry import Clock

PER_PAGE_MAX = 100
RECENT_MAX = 500  # notifications one `recent` call returns at most
_CHUNK = 500  # ids per IN list: SQLite and PostgreSQL both cap the parameters of a statement

_Delivery = NotificationDelivery


@dataclass(frozen=True, slots=True)
class NotificationInfo:
    """A notification as the rest of the server sees it; `sender` is a display name
    (None: the system)."""

    id: int
    title: str
    message: str
    level: str
    link: str | None
    sender: str | None
    created_at: datetime
    everyone: bool


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A notification in one user's inbox, and whether that user read it."""

    notification: NotificationInfo
    read: bool


@dataclass(frozen=True, slots=True)
class InboxPage:
    """One page of a user's inbox, newest first, with their totals."""

    items: tuple[InboxItem, ...]
    total: int
    unread: int
    page: int
    pages: int


def notification_info(row: Notification) -> NotificationInfo:
    """The public view of a notifications row."""
    return NotificationInfo(
        row.id,
        row.title,
        row.message,
        row.level,
        row.link,
        row.sender_name,
        row.created_at,
        row.everyone,
    )


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def unread_counts_in(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """Each user's unread count, zero included, read in the caller's transaction."""
    counts = dict.fromkeys(user_ids, 0)
    for chunk in _chunks(sorted(counts)):
        query = (
            select(_Delivery.user_id, func.count())
            .where(_Delivery.user_id.in_(chunk), _Delivery.read_at.is_(None))
            .group_by(_Delivery.user_id)
        )
        counts.update({int(user_id): int(count) for user_id, count in session.execute(query)})
    return counts


def _recipients(session: Session, users: Sequence[str] | None) -> tuple[list[int], str]:
    """The ids of the users to deliver to, and the audience as the audit line says it."""
    if users is None:
        ids = list(session.scalars(select(User.id).where(User.disabled.is_(False))))
        return ids, f"everyone ({len(ids)} users)"
    if not users:
        raise NotificationError("users", "choose at least one user, or send to everyone")
    named: dict[str, str] = {}  # as stored (lowercase) -> as written, each name once
    for raw in users:
        named.setdefault(raw.strip().lower(), raw.strip())
    shaped = [name for name in named if is_user_name(name)]
    found: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(shaped), _CHUNK):
        query = select(User.name, User.id, User.disabled).where(
            User.name.in_(shaped[start : start + _CHUNK])
        )
        found.update({row.name: (row.id, row.disabled) for row in session.execute(query)})
    unknown = tuple(written for name, written in named.items() if name not in found)
    if unknown:
        raise UnknownUsers(unknown)
    disabled = [name for name in named if found[name][1]]
    if disabled:
        verb = "is" if len(disabled) == 1 else "are"
        shown = ", ".join(repr(name) for name in disabled)
        raise NotificationError("users", f"{shown} {verb} disabled and cannot be notified")
    return [found[name][0] for name in named], "to " + ", ".join(named)


class Notifications:
    """Sending, reading and pruning notifications; the only code that touches their tables."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def check(
        self, title: str, message: str, level: str, link: str | None
    ) -> tuple[str, str, str, str | None]:
        """The fields as they would be stored, or NotificationError naming the first bad one."""
        return check_title(title), check_message(message), check_level(level), check_link(link)

    def send(
        self,
        title: str,
        message: str,
        *,
        level: str = "info",
        link: str | None = None,
        sender_id: int | None,
        users: Sequence[str] | None,
        actor: Actor,
        session: Session | None = None,
    ) -> NotificationSent:
        """Store a notification for `users` (None: everyone not disabled) with its audit
        line, all or nothing; in `session`'s transaction when given (left uncommitted)."""
        title, message, level, link = self.check(title, message, level, link)
        now = self._clock()
        with translate_storage_errors(), self._transaction(session) as db:
            sender_name = None
            if sender_id is not None:
                sender = db.get(User, sender_id)
                if sender is None:
                    raise NotificationError("sender", f"no user has the id {sender_id}")
                sender_name = sender.display_name
            recipients, audience = _recipients(db, users)
            row = Notification(
                title=title,
                message=message,
                level=level,
                link=link,
                sender_id=sender_id,
                sender_name=sender_name,
                everyone=users is None,
                created_at=now,
            )
            db.add(row)
            db.flush()
            if recipients:
                db.execute(
                    insert(_Delivery),
                    [{"notification_id": row.id, "user_id": user} for user in recipients],
                )
            audit.record(db, now, audit.NOTIFICATION_SENT, actor, title, audience)
            unread = unread_counts_in(db, recipients)
            return NotificationSent(notification_info(row), tuple(sorted(unread.items())))

    def inbox(self, user_id: int, page: int = 1, per_page: int = 20) -> InboxPage:
        """One page of the user's notifications, newest first (past the end: no items)."""
        page = max(1, page)
        per_page = max(1, min(per_page, PER_PAGE_MAX))
        mine = _Delivery.user_id == user_id
        query = (
            select(Notification, _Delivery.read_at)
            .join(_Delivery, _Delivery.notification_id == Notification.id)
            .where(mine)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        totals = select(func.count(), func.count(_Delivery.read_at)).where(mine)
        with translate_storage_errors(), self._sessions() as session:
            total, read = session.execute(totals).one()
            items = tuple(
                InboxItem(notification_info(row), read_at is not None)
                for row, read_at in session.execute(query)
            )
        pages = max(1, math.ceil(total / per_page))
        return InboxPage(items, int(total), int(total) - int(read), page, pages)

    def unread_count(self, user_id: int) -> int:
        """How many notifications the user has not read."""
        return self.unread_counts([user_id])[user_id]

    def unread_counts(self, user_ids: Sequence[int]) -> dict[int, int]:
        """Each user's unread count (zero included)."""
        with translate_storage_errors(), self._sessions() as session:
            return unread_counts_in(session, user_ids)

    def mark_read(self, user_id: int, ids: Sequence[int]) -> NotificationsRead:
        """Mark these notifications read for the user; ids not theirs are ignored."""
        wanted = sorted(set(ids))
        mine: list[int] = []
        with translate_storage_errors(), self._sessions.begin() as session:
            for chunk in _chunks(wanted):
                chosen = (_Delivery.user_id == user_id, _Delivery.notification_id.in_(chunk))
                session.execute(
                    update(_Delivery)
                    .where(*chosen, _Delivery.read_at.is_(None))
                    .values(read_at=self._clock())
                )
                mine.extend(session.scalars(select(_Delivery.notification_id).where(*chosen)))
            unread = unread_counts_in(session, [user_id])[user_id]
        return NotificationsRead(user_id, unread, tuple(sorted(mine)))

    def mark_all_read(self, user_id: int) -> NotificationsRead:
        """Mark every notification of the user read."""
        with translate_storage_errors(), self._sessions.begin() as session:
            session.execute(
                update(_Delivery)
                .where(_Delivery.user_id == user_id, _Delivery.read_at.is_(None))
                .values(read_at=self._clock())
            )
            unread = unread_counts_in(session, [user_id])[user_id]
        return NotificationsRead(user_id, unread, None)

    def recent(self, since: datetime) -> list[NotificationSent]:
        """Notifications created at or after `since`, oldest first (at most RECENT_MAX),
        each with its recipients' unread counts now."""
        query = (
            select(Notification)
            .where(Notification.created_at >= since)
            .order_by(Notification.created_at, Notification.id)
            .limit(RECENT_MAX)
        )
        with translate_storage_errors(), self._sessions() as session:
            rows = list(session.scalars(query))
            recipients: dict[int, list[int]] = {row.id: [] for row in rows}
            for chunk in _chunks(list(recipients)):
                pairs = select(_Delivery.notification_id, _Delivery.user_id).where(
                    _Delivery.notification_id.in_(chunk)
                )
                for notification_id, user_id in session.execute(pairs):
                    recipients[notification_id].append(user_id)
            users = sorted({user for ids in recipients.values() for user in ids})
            counts = unread_counts_in(session, users)
        return [
            NotificationSent(
                notification_info(row),
                tuple((user, counts[user]) for user in sorted(recipients[row.id])),
            )
            for row in rows
        ]

    def prune(self, older_than: timedelta) -> int:
        """Delete notifications sent more than `older_than` ago; returns how many went."""
        old = select(Notification.id).where(Notification.created_at < self._clock() - older_than)
        with translate_storage_errors(), self._sessions.begin() as session:
            # Explicitly, as users.remove does: cascades need SQLite's foreign keys on.
            session.execute(delete(_Delivery).where(_Delivery.notification_id.in_(old)))
            result = session.execute(delete(Notification).where(Notification.id.in_(old)))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _transaction(self, session: Session | None) -> AbstractContextManager[Session]:
        # The caller's transaction when given: a chart note and its mentions' notification
        # are written together.
        return nullcontext(session) if session is not None else self._sessions.begin()
