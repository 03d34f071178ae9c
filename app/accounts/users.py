"""Users: who may sign in, with which role; the only code that touches the users table.

Every change is written with its audit line in one transaction. Changes that take a
user's access away (disabled, removed, new password) end the user's sessions; the
facade (app/accounts/__init__.py) announces that on the bus after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.accounts import audit
from app.accounts.audit import Actor
from app.accounts.models import (
    ApiToken,
    ChartNote,
    NoteMention,
    Notification,
    NotificationDelivery,
    User,
    UserSession,
)
from app.accounts.passwords import hash_password, verify_password
from app.accounts.user_rules import (
    Role,
    UserConflict,
    UserNotFound,
    check_display_name,
    check_new_password,
    check_user_name,
    is_user_name,
)
from app.db import translate_storage_errors
from app.telemetry import Clock


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as the rest of the server sees it (never with the password hash)."""

    id: int
    name: str
    display_name: str
    role: Role
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def is_admin(self) -> bool:
        """True for a user who may manage devices, users and sessions."""
        return self.role == "admin"


def user_info(user: User) -> UserInfo:
    """The public view of a users row."""
    role: Role = "admin" if user.role == "admin" else "viewer"
    return UserInfo(
        user.id,
        user.name,
        user.display_name,
        role,
        user.disabled,
        user.created_at,
        user.last_login_at,
    )


def find_user(session: Session, raw_name: str) -> User:
    """The users row named `raw_name`; UserNotFound if none (a name that breaks the
    rule names nobody and is never sent to the database: PostgreSQL refuses NUL)."""
    name = raw_name.strip()
    user = session.scalar(select(User).where(User.name == name)) if is_user_name(name) else None
    if user is None:
        raise UserNotFound(f"no user is named {name[:40]!r}")
    return user


class Users:
    """The user registry."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def count(self) -> int:
        """How many users exist (none: the server waits for its first admin)."""
        with translate_storage_errors(), self._sessions() as session:
            return session.scalar(select(func.count()).select_from(User)) or 0

    def add(
        self,
        raw_name: str,
        password: str,
        *,
        role: Role = "viewer",
        display_name: str = "",
        actor: Actor,
        session: Session | None = None,
    ) -> UserInfo:
        """Create a user (blocking: hashes the password); UserError when refused."""
        name = check_user_name(raw_name)
        display = check_display_name(display_name, name)
        check_new_password(password, name)
        password_hash = hash_password(password)
        now = self._clock()
        user = User(
            name=name,
            display_name=display,
            password_hash=password_hash,
            role=role,
            disabled=False,
            created_at=now,
        )
        try:
            with translate_storage_errors(), self._transaction(session) as db:
                db.add(user)
                db.flush()
                audit.record(db, now, audit.USER_ADDED, actor, name, f"role {role}")
                return user_info(user)
        except IntegrityError:
            raise UserConflict(f"a user named {name!r} already exists") from None

    def list(self) -> Sequence[UserInfo]:
        """Every user, in name order."""
        with translate_storage_errors(), self._sessions() as session:
            return [user_info(u) for u in session.scalars(select(User).order_by(User.name))]

    def get(self, raw_name: str) -> UserInfo:
        """The user named `raw_name`; UserNotFound if none."""
        with translate_storage_errors(), self._sessions() as session:
            return user_info(self._get(session, raw_name))

    def get_many(self, names: Sequence[str]) -> Sequence[UserInfo]:
        """The users among `names` that exist."""
        with translate_storage_errors(), self._sessions() as session:
            query = select(User).where(User.name.in_(list(names))).order_by(User.name)
            return [user_info(u) for u in session.scalars(query)]

    def set_password(self, raw_name: str, password: str, *, actor: Actor) -> UserInfo:
        """Give a user a new password (blocking); their sessions end."""
        return self.update(check_user_name(raw_name), actor=actor, password=password)[0]

    def update(
        self,
        raw_name: str,
        *,
        actor: Actor,
        role: Role | None = None,
        disabled: bool | None = None,
        display_name: str | None = None,
        password: str | None = None,
    ) -> tuple[UserInfo, bool]:
        """Change a user's role, disabled flag, display name or password, all or nothing.

        Returns the user and whether their sessions ended (disabled, or a new password).
        The last active admin can be neither demoted nor disabled: nobody could manage
        the server.
        """
        now = self._clock()
        password_hash = None
        if password is not None:
            check_new_password(password, raw_name.strip())
            password_hash = hash_password(password)  # before the transaction: ~40 ms
        with translate_storage_errors(), self._sessions.begin() as session:
            user = self._get(session, raw_name)
            changes = []
            ended = False
            if password_hash is not None:
                user.password_hash = password_hash
                changes.append("new password")
                ended = True
            losing_admin = (role is not None and role != "admin") or disabled is True
            if losing_admin and user.role == "admin" and not user.disabled:
                self._refuse_last_admin(session, user)
            if role is not None and role != user.role:
                user.role = role
                changes.append(f"role {role}")
            if display_name is not None:
                display = check_display_name(display_name, user.name)
                if display != user.display_name:
                    user.display_name = display
                    changes.append("display name")
            if disabled is not None and disabled != user.disabled:
                user.disabled = disabled
                changes.append("disabled" if disabled else "enabled")
                ended = ended or disabled
            if ended:
                session.execute(delete(UserSession).where(UserSession.user_id == user.id))
            if changes:
                audit.record(session, now, audit.USER_CHANGED, actor, user.name, ", ".join(changes))
            return user_info(user), ended

    def remove(self, raw_name: str, *, actor: Actor) -> UserInfo:
        """Delete a user with their sessions, tokens, deliveries and mentions (their notes and
        notifications stay); the last admin stays."""
        now = self._clock()
        with translate_storage_errors(), self._sessions.begin() as session:
            user = self._get(session, raw_name)
            if user.role == "admin" and not user.disabled:
                self._refuse_last_admin(session, user)
            info = user_info(user)
            # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign keys
            # on, and a database opened by another tool may have them off.
            for owned in (UserSession, ApiToken, NotificationDelivery, NoteMention):
                session.execute(delete(owned).where(owned.user_id == user.id))
            # What they wrote and sent stays, under the display name it was written with.
            session.execute(
                update(ChartNote).where(ChartNote.author_id == user.id).values(author_id=None)
            )
            session.execute(
                update(Notification).where(Notification.sender_id == user.id).values(sender_id=None)
            )
            session.delete(user)
            audit.record(session, now, audit.USER_REMOVED, actor, info.name)
            return info

    def authenticate(self, raw_name: str, password: str) -> UserInfo | None:
        """The active user with this name and password, or None (blocking, ~40 ms either way)."""
        name = raw_name.strip().lower()
        user = None
        if is_user_name(name):  # anything else names nobody: never sent to the database
            with translate_storage_errors(), self._sessions() as session:
                user = session.scalar(select(User).where(User.name == name))
        stored = user.password_hash if user is not None else None
        if not verify_password(password, stored) or user is None or user.disabled:
            return None
        return user_info(user)

    def _get(self, session: Session, raw_name: str) -> User:
        return find_user(session, raw_name)

    def _refuse_last_admin(self, session: Session, user: User) -> None:
        # The active admins' rows are locked (PostgreSQL): two admins demoting each other
        # at once must not both see the other still admin. SQLite writes one transaction
        # at a time, and refuses a write whose reads another commit has made stale.
        admins = session.scalars(
            select(User.id).where(User.role == "admin", User.disabled.is_(False)).with_for_update()
        ).all()
        if not [admin for admin in admins if admin != user.id]:
            raise UserConflict(
                f"{user.name!r} is the only active admin: make another user admin first"
            )

    def _transaction(self, session: Session | None) -> AbstractContextManager[Session]:
        # The caller's transaction when given: the first admin is made inside the setup's.
        return nullcontext(session) if session is not None else self._sessions.begin()
