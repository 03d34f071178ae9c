"""Server-side sessions: the cookie holds a random id, the table its digest and its life.

A session ends at whichever comes first: `idle` after it was last seen, or `absolute`
after it began (SessionLifetime). Last seen is written at most once a minute, so a busy
tab costs one read per request, not a write. Expired rows are refused on sight and
deleted by the hourly prune.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.accounts import audit
from app.accounts.audit import Actor
from app.accounts.credentials import digest, looks_like_session_id, new_session_id
from app.accounts.models import CLIENT_ADDRESS_MAX, USER_AGENT_MAX, User, UserSession
from app.accounts.users import UserInfo, find_user, user_info
from app.db import StorageUnavailable, translate_storage_errors
from app.telemetry import Clock

TOUCH_EVERY = timedelta(minutes=1)

_LOOKUP = (
    select(
        UserSession.id,
        UserSession.created_at,
        UserSession.last_seen_at,
        UserSession.persistent,
        User.id.label("user_id"),
        User.name,
        User.display_name,
        User.role,
        User.disabled,
        User.created_at.label("user_created_at"),
        User.last_login_at,
    )
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.id_hash == bindparam("id_hash"))
)
_TOUCH = (
    update(UserSession)
    .where(UserSession.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("now"))
)


@dataclass(frozen=True, slots=True)
class SessionLifetime:
    """How long a session lasts: idle since last seen, and at most from its start."""

    idle: timedelta
    absolute: timedelta

    def expires_at(self, created_at: datetime, last_seen_at: datetime) -> datetime:
        """When a session begun at `created_at` and last seen at `last_seen_at` ends."""
        return min(last_seen_at + self.idle, created_at + self.absolute)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A valid session and its user."""

    session_id: int
    user: UserInfo
    persistent: bool
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as an admin sees it."""

    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    persistent: bool
    client_address: str
    user_agent: str


class Sessions:
    """Sessions in the database; the only code that touches the user_sessions table."""

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        clock: Clock,
        lifetime: SessionLifetime,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._clock = clock
        self.lifetime = lifetime

    def create(
        self, user: UserInfo, *, persistent: bool, client: str, user_agent: str
    ) -> tuple[str, SignedIn]:
        """Begin a session for `user` (a new id every time); returns the id for the cookie."""
        raw = new_session_id()
        now = self._clock()
        with translate_storage_errors(), self._sessions.begin() as session:
            row = self._row(raw, user.id, now, persistent, client, user_agent)
            session.add(row)
            session.execute(update(User).where(User.id == user.id).values(last_login_at=now))
            audit.record(session, now, audit.SIGN_IN, Actor(user.name, client), user.name)
            session.flush()
            row_id = row.id
        return raw, SignedIn(row_id, user, persistent, self.lifetime.expires_at(now, now))

    def create_many(self, user: UserInfo, count: int, *, client: str) -> list[str]:
        """Begin `count` sessions in one transaction (load tests, with no audit lines)."""
        now = self._clock()
        raws = [new_session_id() for _ in range(count)]
        with translate_storage_errors(), self._sessions.begin() as session:
            session.add_all(self._row(raw, user.id, now, True, client, "") for raw in raws)
        return raws

    def lookup(self, raw: str) -> SignedIn | None:
        """The session with this cookie value, if it is valid; refreshes its last seen.

        Every page and every stream that opens asks this: one indexed read, as a Core
        statement of plain columns (a tenth of what loading ORM objects costs), and, at
        most once a minute per session, a write of its own (below).
        """
        if not looks_like_session_id(raw):
            return None
        now = self._clock()
        with translate_storage_errors(), self._engine.connect() as conn:
            row = conn.execute(_LOOKUP, {"id_hash": digest(raw)}).first()
        if row is None:
            return None
        expires_at = self.lifetime.expires_at(row.created_at, row.last_seen_at)
        if expires_at <= now or row.disabled:
            return None
        if now - row.last_seen_at >= TOUCH_EVERY and self._touch(row.id, now):
            expires_at = self.lifetime.expires_at(row.created_at, now)
        user = UserInfo(
            row.user_id,
            row.name,
            row.display_name,
            "admin" if row.role == "admin" else "viewer",
            row.disabled,
            row.user_created_at,
            row.last_login_at,
        )
        return SignedIn(row.id, user, row.persistent, expires_at)

    def _touch(self, session_id: int, now: datetime) -> bool:
        """Write a session's last seen time; False if the database cannot take it now.

        A transaction of its own: in the read's, SQLite refuses the upgrade to a write
        outright when another connection committed meanwhile (WAL), and the page or
        stream that asked would fail for a convenience. A fresh write waits its turn.
        """
        try:
            with translate_storage_errors(), self._engine.begin() as conn:
                conn.execute(_TOUCH, {"session_id": session_id, "now": now})
        except StorageUnavailable:
            return False  # the next request tries again; the session holds meanwhile
        return True

    def sign_out(self, raw: str, *, client: str) -> SignedIn | None:
        """End the session with this cookie value (its owner signs out)."""
        signed_in = self.lookup(raw)
        if signed_in is None:
            return None
        now = self._clock()
        with translate_storage_errors(), self._sessions.begin() as session:
            session.execute(delete(UserSession).where(UserSession.id == signed_in.session_id))
            name = signed_in.user.name
            audit.record(session, now, audit.SIGN_OUT, Actor(name, client), name)
        return signed_in

    def end(self, session_id: int, *, actor: Actor) -> SessionInfo | None:
        """End one session (an admin's doing); None if it had already ended."""
        now = self._clock()
        with translate_storage_errors(), self._sessions.begin() as session:
            found = session.execute(
                select(UserSession, User.name)
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.id == session_id)
            ).first()
            if found is None:
                return None
            row, name = found
            info = self._info(row)
            session.delete(row)
            audit.record(session, now, audit.SESSION_ENDED, actor, name, row.user_agent[:100])
            return info

    def end_all(self, user_name: str, *, actor: Actor) -> tuple[UserInfo, int]:
        """End every session of a user (sign out everywhere); returns how many ended."""
        now = self._clock()
        with translate_storage_errors(), self._sessions.begin() as session:
            user = find_user(session, user_name)
            result = session.execute(delete(UserSession).where(UserSession.user_id == user.id))
            ended = int(result.rowcount or 0)  # type: ignore[attr-defined]
            audit.record(session, now, audit.SESSIONS_ENDED, actor, user.name, f"{ended} ended")
            return user_info(user), ended

    def of_user(self, user_id: int) -> Sequence[SessionInfo]:
        """A user's sessions that have not expired, most recently seen first."""
        now = self._clock()
        query = (
            select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
        with translate_storage_errors(), self._sessions() as session:
            infos = [self._info(row) for row in session.scalars(query)]
        return [info for info in infos if info.expires_at > now]

    def still_valid(self, session_ids: Sequence[int]) -> set[int]:
        """Which of these sessions still exist and have not expired (live streams ask)."""
        now = self._clock()
        valid: set[int] = set()
        with translate_storage_errors(), self._sessions() as session:
            for start in range(0, len(session_ids), 500):
                chunk = list(session_ids[start : start + 500])
                query = (
                    select(UserSession.id, UserSession.created_at, UserSession.last_seen_at)
                    .join(User, User.id == UserSession.user_id)
                    .where(UserSession.id.in_(chunk), User.disabled.is_(False))
                )
                for row in session.execute(query):
                    if self.lifetime.expires_at(row.created_at, row.last_seen_at) > now:
                        valid.add(row.id)
        return valid

    def prune(self) -> int:
        """Delete expired sessions; returns how many went."""
        now = self._clock()
        cutoff_idle = now - self.lifetime.idle
        cutoff_absolute = now - self.lifetime.absolute
        with translate_storage_errors(), self._sessions.begin() as session:
            result = session.execute(
                delete(UserSession).where(
                    (UserSession.last_seen_at <= cutoff_idle)
                    | (UserSession.created_at <= cutoff_absolute)
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def _row(
        self,
        raw: str,
        user_id: int,
        now: datetime,
        persistent: bool,
        client: str,
        user_agent: str,
    ) -> UserSession:
        return UserSession(
            id_hash=digest(raw),
            user_id=user_id,
            persistent=persistent,
            created_at=now,
            last_seen_at=now,
            client_address=client[:CLIENT_ADDRESS_MAX],
            user_agent=user_agent[:USER_AGENT_MAX],
        )

    def _info(self, row: UserSession) -> SessionInfo:
        return SessionInfo(
            row.id,
            row.user_id,
            row.created_at,
            row.last_seen_at,
            self.lifetime.expires_at(row.created_at, row.last_seen_at),
            row.persistent,
            row.client_address,
            row.user_agent,
        )
