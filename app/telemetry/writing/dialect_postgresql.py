"""The write path on PostgreSQL: datetimes as they are, conflicts settled by the database.

Several servers may write to one PostgreSQL database, so nothing here relies on holding
the only write lock: INSERT ... ON CONFLICT DO NOTHING RETURNING names the rows that
were stored, and the upserts resolve races in the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Insert,
    RootTransaction,
    Table,
    bindparam,
    func,
    or_,
    update,
)
from sqlalchemy.dialects import postgresql

from app.telemetry.models import RollupPending, Series
from app.telemetry.writing.dialect import LatestRow, RollupRow
from app.telemetry.writing.rollups import floor_time
from app.telemetry.writing.rows import CHUNK_ROWS, Key, Row, insert_sql

_series: Table = Series.__table__  # type: ignore[assignment]
_pending: Table = RollupPending.__table__  # type: ignore[assignment]
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)

_ADVANCE_LATEST = (
    update(_series)
    .where(
        _series.c.id == bindparam("sid"),
        or_(_series.c.latest_at.is_(None), _series.c.latest_at < bindparam("at")),
    )
    .values(latest_value=bindparam("v"), latest_at=bindparam("at"))
)
_ROLLUP_KEYS = ("series_id", "bucket", "min", "max", "sum", "count")


def _identity(moment: datetime) -> datetime:
    return moment


def _minute_of(at: datetime) -> datetime:
    return floor_time(at, _MINUTE)


def _hour_of(at: datetime) -> datetime:
    return floor_time(at, _HOUR)


class PostgreSQLWrites:
    """The WriteDialect of PostgreSQL (see dialect.py)."""

    name = "postgresql"
    statements_block = True

    def __init__(self, *, placeholder: str) -> None:
        self._placeholder = placeholder
        self.wal = None  # the server makes its own commits durable
        self.encode_time = _identity
        self.minute_of = _minute_of
        self.hour_of = _hour_of

    def bucket_starts(self, encoded: Iterable[Any]) -> list[datetime]:
        """Bucket starts are datetimes already."""
        return list(encoded)

    def open(self, conn: Connection) -> None:
        """Nothing to prepare."""

    def begin(self, conn: Connection, *, wait: bool) -> RootTransaction | None:
        """BEGIN; row locks are taken as rows are written, so there is nothing to wait for."""
        return conn.begin()

    def insert_rows(self, conn: Connection, rows: list[Row]) -> set[Key]:
        """Let the database skip conflicts and name what it stored; returns the others."""
        inserted: set[Key] = set()
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            params = tuple(x for row in chunk for x in row)
            sql = insert_sql(len(chunk), self._placeholder, returning=True)
            inserted.update((row[0], row[1]) for row in conn.exec_driver_sql(sql, params))
        if len(inserted) == len(rows):
            return set()
        return {(row[0], row[1]) for row in rows} - inserted

    def advance_latest(self, conn: Connection, latest: list[LatestRow]) -> None:
        """One UPDATE per touched series, through Core."""
        conn.execute(
            _ADVANCE_LATEST, [{"sid": sid, "at": at, "v": value} for value, at, sid in latest]
        )

    def insert_ignoring(self, table: Table) -> Insert:
        """INSERT ... ON CONFLICT DO NOTHING into `table`."""
        return postgresql.insert(table).on_conflict_do_nothing()

    def mark_pending(self, conn: Connection, minutes: Iterable[Any]) -> None:
        """Mark minutes pending in rollups_pending."""
        conn.execute(self.insert_ignoring(_pending), [{"minute": m} for m in minutes])

    def upsert_rollups(self, conn: Connection, table: Table, rows: list[RollupRow]) -> None:
        """Add the rows into `table`'s buckets; least/greatest keep the extremes."""
        statement = postgresql.insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.series_id, table.c.bucket],
            set_={
                "min": func.least(table.c.min, statement.excluded.min),
                "max": func.greatest(table.c.max, statement.excluded.max),
                "sum": table.c.sum + statement.excluded.sum,
                "count": table.c.count + statement.excluded.count,
            },
        )
        conn.execute(statement, [dict(zip(_ROLLUP_KEYS, row, strict=True)) for row in rows])
