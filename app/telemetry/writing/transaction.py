"""One transaction for many requests: the blocking half of group commit.

`GroupTransaction.write` receives every request the writer collected and, in one
transaction:

  1. finds the series (device, quantity) of every value, creating missing ones
     (series.py, which also refuses a device past its quantity limit);
  2. inserts the values that are new, so that a resend is never stored twice, whatever
     its value (rows.py builds the rows, the dialect inserts them: dialect.py);
  3. moves each touched series' latest value and each device's last-seen time forward
     (latest.py);
  4. adds the new values to the rollups' deltas, and about once a second writes them
     (rollups.py);

then builds each request's outcome from what those steps returned: its own stored and
duplicate counts, and one event per reading that stored at least one value. A key that
appears twice in the group (two requests resending the same reading at once) is counted
as a duplicate before the insert, so exactly one request is credited with storing it.

The writer (writer.py) drives the steps separately (begin, stage, commit) to choose
where each runs; `write` is all of them, for callers that only want the rows stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, RootTransaction

from app.db import translate_storage_errors, writer_engine
from app.telemetry.writing import rollups
from app.telemetry.writing.dialect import WriteDialect
from app.telemetry.writing.dialect_postgresql import PostgreSQLWrites
from app.telemetry.writing.dialect_sqlite import SQLiteWrites
from app.telemetry.writing.group import WriteOutcome, WriteRequest
from app.telemetry.writing.latest import LastSeen, advance_latest
from app.telemetry.writing.rows import Key, Rows, build_rows, credit
from app.telemetry.writing.series import SeriesIds, SeriesRegistry
from app.telemetry.writing.wal import WalFile


def write_dialect(
    engine: Engine,
    *,
    busy_timeout_ms: int,
    durable: bool,
    monotonic: Callable[[], float] = time.monotonic,
) -> WriteDialect:
    """The dialect of `engine`'s database; `durable` asks SQLite to sync its own WAL."""
    if engine.dialect.name == "sqlite":
        return SQLiteWrites(busy_timeout_ms=busy_timeout_ms, durable=durable, monotonic=monotonic)
    if engine.dialect.name == "postgresql":
        return PostgreSQLWrites(placeholder="?" if engine.dialect.paramstyle == "qmark" else "%s")
    raise NotImplementedError(f"{engine.dialect.name} is not supported; use SQLite or PostgreSQL")


class GroupTransaction:
    """Writes groups of requests; used from the writer only, one call at a time."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_quantities_per_device: int,
        busy_timeout_ms: int = 5000,
        durable: bool = True,
        flush_interval: float = rollups.FLUSH_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = writer_engine(engine)
        self._dialect = write_dialect(
            engine, busy_timeout_ms=busy_timeout_ms, durable=durable, monotonic=monotonic
        )
        self._monotonic = monotonic
        self.flush_interval = flush_interval
        self._series = SeriesRegistry(
            self._dialect, max_quantities_per_device=max_quantities_per_device
        )
        self._last_seen = LastSeen()
        self._rollups = rollups.RollupWriter(self._dialect)
        self._last_flush = monotonic()
        # The writer keeps one connection: checking one out per transaction costs more
        # than the transaction's own statements when groups are small.
        self._conn: Connection | None = None
        self._transaction: RootTransaction | None = None
        # What the staged group changes in memory, applied once it commits.
        self._staged: _Staged | None = None

    @property
    def wal(self) -> WalFile | None:
        """The WAL to sync after commits (durable SQLite), or None."""
        return self._dialect.wal

    @property
    def statements_block(self) -> bool:
        """True when statements wait on a network (PostgreSQL): run all of a write in a thread.

        With SQLite, statements inside an open IMMEDIATE transaction never wait for
        anyone: only `begin` (the lock) and `commit` (the fsync) do.
        """
        return self._dialect.statements_block

    def write(self, requests: Sequence[WriteRequest]) -> list[WriteOutcome]:
        """Store every request in one transaction; raises StorageUnavailable for all."""
        self.begin()
        try:
            outcomes = self.stage(requests)
        except BaseException:
            self.rollback()
            raise
        self.commit()
        return outcomes

    def begin(self, *, wait: bool = True) -> bool:
        """Open the group's transaction, taking SQLite's write lock.

        With wait=False it returns False at once if another writer (the CLI, another
        process) holds the lock, instead of waiting up to the busy timeout; the writer
        then waits for it in its thread. The lock is free almost always, so the event
        loop can begin without a round trip through the thread.
        """
        with self._failures_close_connection():
            conn = self._connection()
            self._transaction = self._dialect.begin(conn, wait=wait)
            return self._transaction is not None

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self._engine.connect()
            try:
                self._dialect.open(conn)
            except BaseException:
                conn.invalidate()
                raise
            self._conn = conn
        return self._conn

    def sync(self) -> None:
        """Make every transaction committed so far durable (blocking: call in a thread)."""
        if self.wal is not None:
            self.wal.sync()

    def stage(
        self, requests: Sequence[WriteRequest], *, flush_rollups: bool = False
    ) -> list[WriteOutcome]:
        """Run the group's statements in the open transaction; nothing is durable yet."""
        assert self._transaction is not None, "call begin() first"
        assert self._conn is not None
        conn, dialect = self._conn, self._dialect
        with self._failures_close_connection():
            series_ids, refusals = self._series.resolve(conn, requests)
            rows = build_rows(requests, refusals, series_ids, dialect.encode_time)
            present = dialect.insert_rows(conn, rows.values) if rows.values else set()
            advance_latest(conn, dialect, rows, present)
            seen = self._last_seen.stage(conn, requests, refusals)
            deltas, flush = self._stage_rollups(conn, rows, present, force=flush_rollups)
        self._staged = _Staged(series_ids, seen, deltas, flush)
        return credit(requests, rows, present, refusals)

    @property
    def rollups_unflushed(self) -> bool:
        """True when committed values wait for the rollups."""
        return bool(self._rollups.unflushed)

    @property
    def rollups_due(self) -> bool:
        """True when committed values wait for the rollups and a flush is due."""
        return self.rollups_unflushed and self._flush_due()

    def _flush_due(self) -> bool:
        return self._monotonic() - self._last_flush >= self.flush_interval

    def _stage_rollups(
        self, conn: Connection, rows: Rows, present: set[Key], *, force: bool
    ) -> tuple[rollups.Deltas, bool]:
        deltas = rollups.Deltas()
        deltas.add_rows(rows.values, self._rollups.minute_of, self._rollups.hour_of, present)
        flush = (force or self._flush_due()) and bool(deltas or self._rollups.unflushed)
        self._rollups.stage(conn, deltas, flush=flush)
        return deltas, flush

    def rebuild_rollups(self) -> int:
        """Fold in what a previous process committed but never rolled up (at start-up)."""
        with self._failures_close_connection():
            conn = self._connection()
            with conn.begin():
                return rollups.rebuild_pending(conn)

    def flush_rollups(self) -> None:
        """A transaction with no readings that writes the pending rollup deltas."""
        self.begin()
        try:
            self.stage([], flush_rollups=True)
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def forget_devices(self) -> None:
        """Drop what is remembered of devices (series ids, last seen): some were deleted."""
        self._series.forget()
        self._last_seen = LastSeen()

    def commit(self) -> None:
        """Commit the staged group (durable at once, or after `sync` with a WalFile)."""
        assert self._transaction is not None, "call begin() first"
        with self._failures_close_connection():
            self._transaction.commit()
        self._transaction = None
        staged, self._staged = self._staged, None
        if staged is not None:
            self._series.committed(staged.series_ids)
            self._last_seen.committed(staged.seen)
            self._rollups.committed(staged.deltas, flushed=staged.flushed)
            if staged.flushed:
                self._last_flush = self._monotonic()

    def rollback(self) -> None:
        """Abandon the open transaction, if any."""
        self._staged = None
        if self._transaction is not None:
            transaction, self._transaction = self._transaction, None
            with contextlib.suppress(Exception):
                transaction.rollback()

    def close(self) -> None:
        """Let go of the writer's connection; it never returns to the pool."""
        self.rollback()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # Its pragmas (busy timeout, synchronous, checkpoints) are the writer's own;
            # a pooled reader must not inherit them.
            with contextlib.suppress(Exception):
                conn.invalidate()
            with contextlib.suppress(Exception):
                conn.close()

    @contextlib.contextmanager
    def _failures_close_connection(self) -> Iterator[None]:
        """Translate database errors; after one, start over on a fresh connection."""
        try:
            with translate_storage_errors():
                yield
        except BaseException:
            self.close()
            raise


@dataclass(frozen=True, slots=True)
class _Staged:
    """What a staged group changes in the transaction's memory once it commits."""

    series_ids: SeriesIds
    seen: dict[int, datetime]
    deltas: rollups.Deltas
    flushed: bool
