"""Tables of the telemetry context.

A measurement row is one value of one quantity of one device at one time. The
(device, quantity) pair is a *series*, stored once, so that each measurement row holds
only (series, measured_at, value).

The primary key is (measured_at, series_id), time first, as time-series stores do: new
readings append at the end of the index, so a commit writes a couple of pages however
many devices it carries (keyed series first, every device in the commit dirtied a page
of its own, and writes cost two to four times more: see docs/benchmarks.md), and
retention deletes from the start. Per-series reads go through the rollups and the
latest value kept on the series row, not through this table.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy import Double, ForeignKey, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamp

DEVICE_NAME_MAX = 64
# Case folding turns one character into at most three ("ß" -> "ss", "ΐ" -> three).
DEVICE_NAME_KEY_MAX = 3 * DEVICE_NAME_MAX
QUANTITY_NAME_MAX = 64


def device_name_key(name: str) -> str:
    """What makes two device names the same: equal without regard to case ("Shed", "SHED").

    Full Unicode case folding, the same in every database (SQLite's lower() folds only
    ASCII), so the key is computed here and stored, with a unique index on it.
    """
    return unicodedata.normalize("NFC", name.casefold())


class Device(Base):
    """A sensor host that posts readings with its own token."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(DEVICE_NAME_MAX), unique=True)
    # device_name_key(name): two names differing only in case collide on its unique index.
    name_key: Mapped[str] = mapped_column(String(DEVICE_NAME_KEY_MAX), unique=True, index=True)
    # SHA-256 of the token; tokens are 256 random bits, so a fast hash is safe (see tokens.py).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp())
    last_seen_at: Mapped[datetime | None] = mapped_column(Timestamp())
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp())

    series: Mapped[list[Series]] = relationship(back_populates="device", order_by="Series.quantity")

    @property
    def revoked(self) -> bool:
        """True once the device's token no longer opens the ingest API."""
        return self.revoked_at is not None


class Series(Base):
    """One quantity of one device, with its latest value (kept by the writer)."""

    __tablename__ = "series"
    __table_args__ = (UniqueConstraint("device_id", "quantity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    quantity: Mapped[str] = mapped_column(String(QUANTITY_NAME_MAX))
    latest_value: Mapped[float | None] = mapped_column(Double())
    latest_at: Mapped[datetime | None] = mapped_column(Timestamp())

    device: Mapped[Device] = relationship(back_populates="series")


class Measurement(Base):
    """One stored value; the primary key makes a resend of the same reading a no-op."""

    __tablename__ = "measurements"
    # Without a rowid, SQLite stores the rows in the primary key's order: one B-tree.
    __table_args__ = (
        PrimaryKeyConstraint("measured_at", "series_id"),
        {"sqlite_with_rowid": False},
    )

    measured_at: Mapped[datetime] = mapped_column(Timestamp())
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    value: Mapped[float] = mapped_column(Double())


class RollupMinute(Base):
    """Min, max, sum and count of one series over one minute.

    Keyed series first, so a history query reads one contiguous range. The writer
    updates rollups about once a second from what it stored (see rollups.py), not once
    per transaction, so the pages they dirty do not multiply with the request rate.
    """

    __tablename__ = "rollups_minute"
    __table_args__ = (
        PrimaryKeyConstraint("series_id", "bucket"),
        {"sqlite_with_rowid": False},
    )

    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    bucket: Mapped[datetime] = mapped_column(Timestamp())
    min: Mapped[float] = mapped_column(Double())
    max: Mapped[float] = mapped_column(Double())
    sum: Mapped[float] = mapped_column(Double())
    count: Mapped[int] = mapped_column()


class RollupHour(Base):
    """Min, max, sum and count of one series over one hour (see RollupMinute)."""

    __tablename__ = "rollups_hour"
    __table_args__ = (
        PrimaryKeyConstraint("series_id", "bucket"),
        {"sqlite_with_rowid": False},
    )

    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    bucket: Mapped[datetime] = mapped_column(Timestamp())
    min: Mapped[float] = mapped_column(Double())
    max: Mapped[float] = mapped_column(Double())
    sum: Mapped[float] = mapped_column(Double())
    count: Mapped[int] = mapped_column()


class RollupPending(Base):
    """A minute whose stored readings are not all in the rollups yet.

    Written in the same transaction as the readings, deleted in the same transaction
    as the rollup update that covers them; whatever is left after a crash is rebuilt
    from the raw readings at start-up.
    """

    __tablename__ = "rollups_pending"

    minute: Mapped[datetime] = mapped_column(Timestamp(), primary_key=True)
