"""The write path on SQLite: integer times, lookups before inserts, the sqlite3 cursor.

Every statement here runs inside the IMMEDIATE transaction the writer opened, through
the sqlite3 cursor under SQLAlchemy's connection: for statements that handle every row
or every touched series, SQLAlchemy's per-statement bookkeeping costs more than the
statement (see docs/benchmarks.md). Errors are translated by the transaction's
translate_storage_errors like any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Insert, RootTransaction, Table, exc
from sqlalchemy.dialects import sqlite

from app.db import decode_time, encode_time, is_busy, microseconds
from app.telemetry.writing.dialect import LatestRow, RollupRow
from app.telemetry.writing.rows import CHUNK_ROWS, Key, Row, insert_sql
from app.telemetry.writing.wal import WalFile

MINUTE_US = microseconds(timedelta(minutes=1))
HOUR_US = microseconds(timedelta(hours=1))

_ADVANCE_LATEST = (
    "UPDATE series SET latest_value = ?, latest_at = ? "
    "WHERE id = ? AND (latest_at IS NULL OR latest_at < ?)"
)
_MARK_PENDING = "INSERT INTO rollups_pending (minute) VALUES (?) ON CONFLICT DO NOTHING"


def driver_cursor(conn: Connection) -> Any:
    """The sqlite3 cursor under `conn`, inside the transaction SQLAlchemy opened."""
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver.cursor()


@lru_cache(maxsize=64)
def _existing_sql(rows: int) -> str:
    # A join from a VALUES list, not `(a, b) IN (VALUES ...)`: SQLite plans the IN form as
    # a scan of the whole table and the join as one primary-key seek per key.
    keys = ",".join(["(?,?)"] * rows)
    head = f"WITH k(series_id, measured_at) AS (VALUES {keys}) "
    return (
        head + "SELECT m.series_id, m.measured_at FROM k JOIN measurements m "  # noqa: S608
        "ON m.series_id = k.series_id AND m.measured_at = k.measured_at"
    )


@lru_cache(maxsize=4)
def _upsert_rollup_sql(table: str) -> str:
    # Only the table name (one of the two rollup tables) is formatted in.
    return (
        f"INSERT INTO {table} (series_id, bucket, min, max, sum, count) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (series_id, bucket) DO UPDATE SET "
        f"min = min({table}.min, excluded.min), max = max({table}.max, excluded.max), "
        f"sum = {table}.sum + excluded.sum, count = {table}.count + excluded.count"
    )


def _minute_of(at: int) -> int:
    return at - at % MINUTE_US


def _hour_of(at: int) -> int:
    return at - at % HOUR_US


class SQLiteWrites:
    """The WriteDialect of SQLite (see dialect.py)."""

    name = "sqlite"
    statements_block = False

    def __init__(
        self,
        *,
        busy_timeout_ms: int,
        durable: bool,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._busy_timeout_ms = busy_timeout_ms
        # Durable commits are synced by the writer's own thread (see wal.py).
        self.wal = (
            WalFile(busy_timeout_ms=busy_timeout_ms, monotonic=monotonic) if durable else None
        )
        # Plain functions, not methods: they run once per reading.
        self.encode_time = encode_time
        self.minute_of = _minute_of
        self.hour_of = _hour_of

    def bucket_starts(self, encoded: Iterable[Any]) -> list[datetime]:
        """Encoded bucket starts as datetimes, for Core statements."""
        return [decode_time(m) for m in encoded]

    def open(self, conn: Connection) -> None:
        """Learn the WAL (if durable) and stop commits from syncing and checkpointing."""
        if self.wal is None:
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        self.wal.attach(driver)
        # Commit without fsync and without checkpointing: the fsync thread does both
        # (WalFile), so neither stalls the event loop or the next transaction.
        driver.execute("PRAGMA synchronous = NORMAL")
        driver.execute("PRAGMA wal_autocheckpoint = 0")

    def begin(self, conn: Connection, *, wait: bool) -> RootTransaction | None:
        """BEGIN IMMEDIATE, waiting up to the busy timeout for the lock only if `wait`."""
        driver = conn.connection.driver_connection
        assert driver is not None
        # Set on the sqlite3 connection directly: a statement through SQLAlchemy
        # would begin the transaction before the timeout is set.
        driver.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms if wait else 0}")
        try:
            return conn.begin()
        except exc.OperationalError as error:
            if wait or not is_busy(error):
                raise
            # BEGIN failed, so nothing is open; the next begin starts afresh.
            return None

    def insert_rows(self, conn: Connection, rows: list[Row]) -> set[Key]:
        """Look up the keys already stored (returned), then insert only the others.

        Correct because the transaction began IMMEDIATE: no other writer, in this process
        or another, can add a key between the lookup and the insert.
        """
        cursor = driver_cursor(conn)
        present: set[Key] = set()
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start : start + CHUNK_ROWS]
            cursor.execute(_existing_sql(len(chunk)), [x for row in chunk for x in row[:2]])
            present.update(cursor.fetchall())
        new_rows = [row for row in rows if (row[0], row[1]) not in present] if present else rows
        for start in range(0, len(new_rows), CHUNK_ROWS):
            chunk = new_rows[start : start + CHUNK_ROWS]
            cursor.execute(
                insert_sql(len(chunk), "?", returning=False), [x for row in chunk for x in row]
            )
        return present

    def advance_latest(self, conn: Connection, latest: list[LatestRow]) -> None:
        """One UPDATE per touched series, run through the sqlite3 cursor."""
        driver_cursor(conn).executemany(
            _ADVANCE_LATEST, [(value, at, series_id, at) for value, at, series_id in latest]
        )

    def insert_ignoring(self, table: Table) -> Insert:
        """INSERT ... ON CONFLICT DO NOTHING into `table`."""
        return sqlite.insert(table).on_conflict_do_nothing()

    def mark_pending(self, conn: Connection, minutes: Iterable[Any]) -> None:
        """Mark encoded minutes pending in rollups_pending."""
        driver_cursor(conn).executemany(_MARK_PENDING, [(m,) for m in minutes])

    def upsert_rollups(self, conn: Connection, table: Table, rows: list[RollupRow]) -> None:
        """Add the rows into `table`'s buckets with one upsert per bucket."""
        driver_cursor(conn).executemany(_upsert_rollup_sql(table.name), rows)
