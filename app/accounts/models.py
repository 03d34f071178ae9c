"""Tables of the accounts context: users, their sessions and API tokens, the audit log,
notifications with their deliveries, and chart notes with their mentions.

No secret is stored as itself: passwords as Argon2id hashes, session ids and personal
tokens as SHA-256 digests (they are 256 random bits, so a fast digest is safe, as for
device tokens), the first-run setup code likewise.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamp

USER_NAME_MAX = 32
DISPLAY_NAME_MAX = 100
USER_AGENT_MAX = 300
CLIENT_ADDRESS_MAX = 64
TOKEN_PREFIX_LENGTH = 12


class User(Base):
    """A person who signs in: a viewer reads, an admin also manages."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(USER_NAME_MAX), unique=True)
    display_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    last_login_at: Mapped[datetime | None] = mapped_column(Timestamp())


class UserSession(Base):
    """A signed-in browser: the cookie holds the id, this row its SHA-256 digest."""

    __tablename__ = "user_sessions"
    # Ids never reused (SQLite would give a new session the id of the newest one
    # deleted): open live streams are matched to their session by id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # False: the cookie ends with the browser ("keep me signed in" unticked); the row
    # still expires by the idle and absolute limits.
    persistent: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp())
    client_address: Mapped[str] = mapped_column(String(CLIENT_ADDRESS_MAX))
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX))


class ApiToken(Base):
    """A personal API token: its user's role, for scripts; never opens a page."""

    __tablename__ = "api_tokens"
    __table_args__ = ({"sqlite_autoincrement": True},)  # as user_sessions: ids never reused

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The token's first characters, shown in lists and used to revoke it.
    prefix: Mapped[str] = mapped_column(String(TOKEN_PREFIX_LENGTH), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp())


class AuditEvent(Base):
    """Who did what when: sign-ins, failures, and every change to users and devices."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp())
    action: Mapped[str] = mapped_column(String(40))
    # The user who acted (by name, kept after the user is removed), or "cli", or None
    # for an attempt by nobody known (a failed sign-in).
    actor: Mapped[str | None] = mapped_column(String(USER_NAME_MAX + 8))
    subject: Mapped[str] = mapped_column(String(200))
    client_address: Mapped[str] = mapped_column(String(CLIENT_ADDRESS_MAX))
    detail: Mapped[str] = mapped_column(String(500))


class SetupCode(Base):
    """The one-time code that lets the first admin be created; gone once used."""

    __tablename__ = "setup_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp())


NOTIFICATION_TITLE_MAX = 120
NOTIFICATION_MESSAGE_MAX = 2000
NOTIFICATION_LINK_MAX = 500
NOTE_TEXT_MAX = 1000


class Notification(Base):
    """A message to some users or to everyone, from a user or from the system."""

    __tablename__ = "notifications"
    # Ids never reused: pages and streams name a notification (a toast, "mark read") by id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(NOTIFICATION_TITLE_MAX))
    message: Mapped[str] = mapped_column(String(NOTIFICATION_MESSAGE_MAX))
    level: Mapped[str] = mapped_column(String(10))
    link: Mapped[str | None] = mapped_column(String(NOTIFICATION_LINK_MAX))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The sender's display name when it was sent, kept after the user goes; None: the system.
    sender_name: Mapped[str | None] = mapped_column(String(DISPLAY_NAME_MAX))
    everyone: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), index=True)


class NotificationDelivery(Base):
    """One recipient of a notification, written when it is sent, and whether they read it."""

    __tablename__ = "notification_deliveries"
    # Unread counts and inbox pages read one user's rows.
    __table_args__ = (Index("ix_notification_deliveries_user_id_read_at", "user_id", "read_at"),)

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime | None] = mapped_column(Timestamp())


class ChartNote(Base):
    """A note on a device's chart, at one time or over a range, by a user."""

    __tablename__ = "chart_notes"
    __table_args__ = (
        Index("ix_chart_notes_device_id_starts_at", "device_id", "starts_at"),
        {"sqlite_autoincrement": True},  # ids name markers on open charts: never reused
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The devices table belongs to the telemetry context; deleting a device deletes its notes.
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The author's display name when written: the note keeps it after the user goes.
    author_name: Mapped[str] = mapped_column(String(DISPLAY_NAME_MAX))
    starts_at: Mapped[datetime] = mapped_column(Timestamp())
    ends_at: Mapped[datetime | None] = mapped_column(Timestamp())
    text: Mapped[str] = mapped_column(String(NOTE_TEXT_MAX))
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    updated_at: Mapped[datetime] = mapped_column(Timestamp())


class NoteMention(Base):
    """A user a note mentions (and notified)."""

    __tablename__ = "note_mentions"

    note_id: Mapped[int] = mapped_column(
        ForeignKey("chart_notes.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
