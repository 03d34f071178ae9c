"""The accounts context: users, sessions, personal tokens, the audit log, the first admin,
notifications and chart notes.

Everything outside this package imports from here (import-linter keeps it so). The
blocking work (database, Argon2) runs in threads through the async methods of
`Accounts`; the changes that end sessions announce `SessionsEnded` on the bus after
they are committed, so that every worker closes its live streams of those sessions.

Notifications, reads and chart notes are announced likewise (announcing.py holds those
doors of the facade).

Inside: users.py (and user_rules.py: what a user may be), sessions.py, api_tokens.py,
audit.py, first_run.py, passwords.py, credentials.py (ids and tokens), notifications.py
(and notification_rules.py), notes.py (with note_rows.py and mentions.py),
announcing.py, events.py, models.py (the tables).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import anyio
from anyio import to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.accounts import audit
from app.accounts.announcing import Announcing
from app.accounts.api_tokens import ApiTokens, TokenHolder, TokenInfo
from app.accounts.audit import (
    CLI,
    DEVICE_ADDED,
    DEVICE_CHANGED,
    DEVICE_REMOVED,
    DEVICE_REVOKED,
    NOTIFICATION_SENT,
    SIGN_IN_FAILED,
    Actor,
    AuditEntry,
    AuditLog,
)
from app.accounts.credentials import PERSONAL_TOKEN_PREFIX, looks_like_personal_token
from app.accounts.events import NoteChanged, NotificationSent, NotificationsRead, SessionsEnded
from app.accounts.first_run import FirstRun, SetupClosed
from app.accounts.models import DISPLAY_NAME_MAX, USER_NAME_MAX
from app.accounts.notes import (
    MENTION,
    NOTE_MAX,
    NOTES_PER_QUERY,
    NoteError,
    NoteInfo,
    NoteNotFound,
    NotePermission,
    Notes,
)
from app.accounts.notification_rules import (
    LEVELS,
    LINK_MAX,
    MESSAGE_MAX,
    TITLE_MAX,
    NotificationError,
    UnknownUsers,
)
from app.accounts.notifications import InboxItem, InboxPage, NotificationInfo, Notifications
from app.accounts.passwords import PASSWORD_MAX, PASSWORD_MIN
from app.accounts.sessions import SessionInfo, SessionLifetime, Sessions, SignedIn
from app.accounts.user_rules import (
    ROLES,
    USER_NAME_RULE,
    Role,
    UserConflict,
    UserError,
    UserNotFound,
    check_role,
    check_user_name,
    is_user_name,
)
from app.accounts.users import UserInfo, Users
from app.bus import Bus, Subscription
from app.db import create_session_factory
from app.telemetry import AlongWith, Clock

__all__ = [
    "CLI",
    "DEVICE_ADDED",
    "DEVICE_CHANGED",
    "DEVICE_REMOVED",
    "DEVICE_REVOKED",
    "DISPLAY_NAME_MAX",
    "LEVELS",
    "LINK_MAX",
    "MENTION",
    "MESSAGE_MAX",
    "NOTES_PER_QUERY",
    "NOTE_MAX",
    "NOTIFICATION_SENT",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "PERSONAL_TOKEN_PREFIX",
    "ROLES",
    "SIGN_IN_FAILED",
    "TITLE_MAX",
    "USER_NAME_MAX",
    "USER_NAME_RULE",
    "Accounts",
    "Actor",
    "AuditEntry",
    "InboxItem",
    "InboxPage",
    "NoteChanged",
    "NoteError",
    "NoteInfo",
    "NoteNotFound",
    "NotePermission",
    "NotificationError",
    "NotificationInfo",
    "NotificationSent",
    "NotificationsRead",
    "Role",
    "SessionInfo",
    "SessionLifetime",
    "SessionsEnded",
    "SetupClosed",
    "SignedIn",
    "TokenHolder",
    "TokenInfo",
    "UnknownUsers",
    "UserConflict",
    "UserError",
    "UserInfo",
    "UserNotFound",
    "check_role",
    "check_user_name",
    "looks_like_personal_token",
]

T = TypeVar("T")


class Accounts(Announcing):
    """The door to the accounts context: its parts, and the changes that announce."""

    def __init__(self, engine: Engine, bus: Bus, clock: Clock, lifetime: SessionLifetime) -> None:
        factory = create_session_factory(engine)
        self.users = Users(factory, clock)
        self.sessions = Sessions(engine, factory, clock, lifetime)
        self.tokens = ApiTokens(factory, clock)
        self.audit = AuditLog(factory, clock)
        self.first_run = FirstRun(factory, clock, self.users)
        self.notifications = Notifications(factory, clock)
        self.notes = Notes(factory, clock, self.notifications)
        self._announced: dict[int, datetime] = {}
        self._bus = bus
        self._clock = clock
        self._hashing: anyio.CapacityLimiter | None = None

    async def authenticate(self, name: str, password: str) -> UserInfo | None:
        """The active user with this name and password (Argon2 in its own small pool)."""
        if self._hashing is None:
            # Each hash in flight holds 19 MiB and a core for 40 ms: one core is left
            # for ingest and the live pages (on 2 cores, a burst of 20 sign-ins doubled
            # ingest's p99 with two hashing threads, and raised it by half with one:
            # docs/benchmarks.md).
            self._hashing = anyio.CapacityLimiter(max(1, (os.cpu_count() or 2) - 1))
        return await to_thread.run_sync(
            self.users.authenticate, name, password, limiter=self._hashing
        )

    def audit_along(self, action: str, actor: Actor) -> AlongWith:
        """An audit line for a device change, written in the change's own transaction
        (the devices context calls it with the device's name and what changed)."""

        def write(session: Session, subject: str, detail: str) -> None:
            audit.record(session, self._clock(), action, actor, subject, detail)

        return write

    def record_failed_sign_in(self, name: str, client: str) -> None:
        """Audit a failed sign-in: the name tried when it could be a user's (anything else
        may well be a password typed in the wrong box, and is not kept)."""
        tried = name if is_user_name(name) else "(not a user name)"
        self.audit.add(SIGN_IN_FAILED, Actor(None, client), tried)

    async def run(self, work: Callable[[], T]) -> T:
        """Run a blocking call of this context in a thread."""
        return await to_thread.run_sync(work)

    async def sign_out(self, raw_session: str, client: str) -> SignedIn | None:
        """End the session behind this cookie value, and its live streams."""
        ended = await to_thread.run_sync(lambda: self.sessions.sign_out(raw_session, client=client))
        if ended is not None:
            await self._bus.publish(SessionsEnded(ended.user.id, (ended.session_id,)))
        return ended

    async def end_session(self, session_id: int, actor: Actor) -> SessionInfo | None:
        """End one session (an admin's doing), and its live streams."""
        ended = await to_thread.run_sync(lambda: self.sessions.end(session_id, actor=actor))
        if ended is not None:
            await self._bus.publish(SessionsEnded(ended.user_id, (ended.id,)))
        return ended

    async def sign_out_everywhere(self, user_name: str, actor: Actor) -> tuple[UserInfo, int]:
        """End every session of a user, and all their live streams."""
        user, count = await to_thread.run_sync(
            lambda: self.sessions.end_all(user_name, actor=actor)
        )
        await self._bus.publish(SessionsEnded(user.id))
        return user, count

    async def update_user(
        self,
        user_name: str,
        actor: Actor,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
        display_name: str | None = None,
        password: str | None = None,
    ) -> UserInfo:
        """Change a user, all or nothing; disabling one or giving a new password ends
        their sessions and live streams."""
        user, ended = await to_thread.run_sync(
            lambda: self.users.update(
                user_name,
                actor=actor,
                role=role,
                disabled=disabled,
                display_name=display_name,
                password=password,
            ),
            limiter=self._hashing if password is not None else None,
        )
        if ended:
            await self._bus.publish(SessionsEnded(user.id))
        return user

    async def set_password(self, user_name: str, password: str, actor: Actor) -> UserInfo:
        """Give a user a new password; their sessions and live streams end."""
        return await self.update_user(user_name, actor, password=password)

    async def remove_user(self, user_name: str, actor: Actor) -> UserInfo:
        """Delete a user; their sessions and live streams end."""
        user = await to_thread.run_sync(lambda: self.users.remove(user_name, actor=actor))
        await self._bus.publish(SessionsEnded(user.id))
        return user

    def subscribe_sessions_ended(self, maxsize: int) -> Subscription[SessionsEnded]:
        """SessionsEnded events from now on."""
        return self._bus.subscribe(SessionsEnded, maxsize=maxsize)

    def prune(self, audit_days: int, notification_days: int | None = None) -> tuple[int, int, int]:
        """Delete expired sessions, audit lines older than `audit_days` and notifications
        older than `notification_days` (None: keep them); how many of each (blocking)."""
        notifications = 0
        if notification_days is not None:
            notifications = self.notifications.prune(timedelta(days=notification_days))
        return self.sessions.prune(), self.audit.prune(timedelta(days=audit_days)), notifications
