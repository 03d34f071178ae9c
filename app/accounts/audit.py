"""The audit log: who did what, when and from where; written in the same transaction as
the change it records, so a change is never without its line (nor a line without it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import CLIENT_ADDRESS_MAX, AuditEvent
from app.db import translate_storage_errors
from app.telemetry import Clock

# Actions, as stored; the admin page and the API show them as they are.
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in failed"
SIGN_OUT = "sign-out"
SESSION_ENDED = "session ended"
SESSIONS_ENDED = "signed out everywhere"
USER_ADDED = "user added"
USER_CHANGED = "user changed"
USER_REMOVED = "user removed"
TOKEN_CREATED = "token created"  # noqa: S105  (an action's name)
TOKEN_REVOKED = "token revoked"  # noqa: S105
DEVICE_ADDED = "device added"
DEVICE_CHANGED = "device changed"
DEVICE_REVOKED = "device revoked"
DEVICE_REMOVED = "device removed"
SETUP_DONE = "first admin created"
NOTIFICATION_SENT = "notification sent"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts and from where: a user's name (or "cli"; None for nobody known)."""

    name: str | None
    client: str = ""


CLI = Actor("cli", "local")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log."""

    id: int
    at: datetime
    action: str
    actor: str | None
    subject: str
    client_address: str
    detail: str


def record(
    session: Session, at: datetime, action: str, actor: Actor, subject: str, detail: str = ""
) -> None:
    """Add a line to the log inside the caller's transaction."""
    session.add(
        AuditEvent(
            at=at,
            action=action,
            actor=actor.name,
            subject=subject[:200],
            client_address=actor.client[:CLIENT_ADDRESS_MAX],
            detail=detail[:500],
        )
    )


class AuditLog:
    """Reading and pruning the log; lines are added by the contexts that act."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def page(self, *, limit: int, before_id: int | None = None) -> Sequence[AuditEntry]:
        """The newest lines first, `limit` at a time, starting below the id `before_id`."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditEvent.id < before_id)
        with translate_storage_errors(), self._sessions() as session:
            return [
                AuditEntry(
                    row.id,
                    row.at,
                    row.action,
                    row.actor,
                    row.subject,
                    row.client_address,
                    row.detail,
                )
                for row in session.scalars(query)
            ]

    def count(self) -> int:
        """How many lines the log holds."""
        with translate_storage_errors(), self._sessions() as session:
            return session.scalar(select(func.count()).select_from(AuditEvent)) or 0

    def prune(self, keep: timedelta) -> int:
        """Delete lines older than `keep`; returns how many went."""
        cutoff = self._clock() - keep
        with translate_storage_errors(), self._sessions.begin() as session:
            result = session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def add(self, action: str, actor: Actor, subject: str, detail: str = "") -> None:
        """Add a line on its own (a failed sign-in changes nothing else)."""
        with translate_storage_errors(), self._sessions.begin() as session:
            record(session, self._clock(), action, actor, subject, detail)
