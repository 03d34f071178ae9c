"""rollups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:10:35.370332
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollups_pending",
        sa.Column("minute", app.db.Timestamp(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("minute", name=op.f("pk_rollups_pending")),
    )
    op.create_table(
        "rollups_hour",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket", app.db.Timestamp(timezone=True), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
            name=op.f("fk_rollups_hour_series_id_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "bucket", name=op.f("pk_rollups_hour")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollups_minute",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("bucket", app.db.Timestamp(timezone=True), nullable=False),
        sa.Column("min", sa.Double(), nullable=False),
        sa.Column("max", sa.Double(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
            name=op.f("fk_rollups_minute_series_id_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_id", "bucket", name=op.f("pk_rollups_minute")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("rollups_minute")
    op.drop_table("rollups_hour")
    op.drop_table("rollups_pending")
