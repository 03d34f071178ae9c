"""notifications with one delivery per recipient; chart notes with their mentions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-14 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, app.db.Timestamp(timezone=True), nullable=nullable)


def _user(column: str, table: str, *, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=op.f(f"fk_{table}_{column}_users"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("sender_name", sa.String(length=100), nullable=True),
        sa.Column("everyone", sa.Boolean(), nullable=False),
        _time("created_at"),
        _user("sender_id", "notifications", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_notifications_created_at"), "notifications", ["created_at"])
    op.create_table(
        "notification_deliveries",
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _time("read_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_deliveries_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        _user("user_id", "notification_deliveries", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(
            "notification_id", "user_id", name=op.f("pk_notification_deliveries")
        ),
    )
    op.create_index(
        "ix_notification_deliveries_user_id_read_at",
        "notification_deliveries",
        ["user_id", "read_at"],
    )
    op.create_table(
        "chart_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(length=100), nullable=False),
        _time("starts_at"),
        _time("ends_at", nullable=True),
        sa.Column("text", sa.String(length=1000), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_chart_notes_device_id_devices"),
            ondelete="CASCADE",
        ),
        _user("author_id", "chart_notes", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chart_notes")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_chart_notes_device_id_starts_at", "chart_notes", ["device_id", "starts_at"])
    op.create_table(
        "note_mentions",
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["chart_notes.id"],
            name=op.f("fk_note_mentions_note_id_chart_notes"),
            ondelete="CASCADE",
        ),
        _user("user_id", "note_mentions", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("note_id", "user_id", name=op.f("pk_note_mentions")),
    )


def downgrade() -> None:
    op.drop_table("note_mentions")
    op.drop_index("ix_chart_notes_device_id_starts_at", table_name="chart_notes")
    op.drop_table("chart_notes")
    op.drop_index(
        "ix_notification_deliveries_user_id_read_at", table_name="notification_deliveries"
    )
    op.drop_table("notification_deliveries")
    op.drop_index(op.f("ix_notifications_created_at"), table_name="notifications")
    op.drop_table("notifications")
