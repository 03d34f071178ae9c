"""The one seam between the write path and the database it runs on.

    GroupTransaction, series, latest, rollups
            │  ask the dialect, never `if sqlite`
            ▼
    WriteDialect ── SQLiteWrites      (dialect_sqlite.py)
                 └─ PostgreSQLWrites  (dialect_postgresql.py)

chosen once, from the engine, by `write_dialect` (transaction.py). What differs:

- **times**: SQLite stores integer microseconds (app.db.encode_time), so the hot path
  hands the driver integers and buckets them with integer arithmetic; PostgreSQL
  takes the datetimes themselves.
- **duplicates**: SQLite's IMMEDIATE transaction holds the only write lock, so looking
  the keys up and then inserting the rest is exact, and cheaper than RETURNING;
  PostgreSQL, where several writers may race, lets INSERT ... ON CONFLICT DO NOTHING
  RETURNING say what it stored.
- **where statements run**: SQLite statements in an open transaction never wait, so
  they run on the event loop; PostgreSQL's wait on the network (`statements_block`).
- **durability**: a durable SQLite writer commits without fsync and syncs its WAL in a
  thread of its own (`wal`, see wal.py); PostgreSQL makes its own commits durable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Insert, RootTransaction, Table

from app.telemetry.writing.rows import Key, Row
from app.telemetry.writing.wal import WalFile

# (series id, encoded bucket start, min, max, sum, count)
RollupRow = tuple[int, Any, float, float, float, int]
# (value, encoded measured_at, series id)
LatestRow = tuple[float, Any, int]


class WriteDialect(Protocol):
    """What the write path asks of the database, in that database's terms."""

    @property
    def name(self) -> str:
        """The SQLAlchemy dialect name."""
        ...

    @property
    def statements_block(self) -> bool:
        """True when statements wait on a network: run all of a write in a thread."""
        ...

    @property
    def wal(self) -> WalFile | None:
        """The WAL the writer syncs itself, or None when commits are durable on their own."""
        ...

    @property
    def encode_time(self) -> Callable[[datetime], Any]:
        """measured_at as the driver receives it (and as rows and keys hold it)."""
        ...

    @property
    def minute_of(self) -> Callable[[Any], Any]:
        """The encoded start of the minute an encoded time falls in."""
        ...

    @property
    def hour_of(self) -> Callable[[Any], Any]:
        """The encoded start of the hour an encoded time falls in."""
        ...

    def bucket_starts(self, encoded: Iterable[Any]) -> list[datetime]:
        """Encoded bucket starts as datetimes, for Core statements."""
        ...

    def open(self, conn: Connection) -> None:
        """Prepare the writer's own connection, once, after it connects."""
        ...

    def begin(self, conn: Connection, *, wait: bool) -> RootTransaction | None:
        """Begin the group's transaction; None if wait=False and another writer holds it."""
        ...

    def insert_rows(self, conn: Connection, rows: list[Row]) -> set[Key]:
        """Insert the rows whose key is new; returns the keys that were already stored."""
        ...

    def advance_latest(self, conn: Connection, latest: list[LatestRow]) -> None:
        """Move each series' latest value to the one given, unless it already is newer."""
        ...

    def insert_ignoring(self, table: Table) -> Insert:
        """INSERT ... ON CONFLICT DO NOTHING into `table`."""
        ...

    def mark_pending(self, conn: Connection, minutes: Iterable[Any]) -> None:
        """Mark encoded minutes as holding readings the rollups lack (rollups.py)."""
        ...

    def upsert_rollups(self, conn: Connection, table: Table, rows: list[RollupRow]) -> None:
        """Add each row's min, max, sum and count into its rollup bucket of `table`."""
        ...
