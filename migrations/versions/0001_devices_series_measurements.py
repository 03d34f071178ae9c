"""devices series measurements

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:29:28.035888
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.db.Timestamp(timezone=True), nullable=False),
        sa.Column("last_seen_at", app.db.Timestamp(timezone=True), nullable=True),
        sa.Column("revoked_at", app.db.Timestamp(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("name", name=op.f("uq_devices_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_devices_token_hash")),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.String(length=64), nullable=False),
        sa.Column("latest_value", sa.Double(), nullable=True),
        sa.Column("latest_at", app.db.Timestamp(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_series_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("device_id", "quantity", name=op.f("uq_series_device_id_quantity")),
    )
    op.create_table(
        "measurements",
        sa.Column("measured_at", app.db.Timestamp(timezone=True), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
            name=op.f("fk_measurements_series_id_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("measured_at", "series_id", name=op.f("pk_measurements")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("measurements")
    op.drop_table("series")
    op.drop_table("devices")
