"""One transaction for many requests: the blocking half of group commit.

`MeasurementStore.write` receives every request the writer collected and, in one
transaction:

  1. finds the series (device, quantity) of every value, creating missing ones;
  2. inserts the values that are new, so that a resend is never stored twice, whatever
     its value: with SQLite it looks the keys up first (exact, since the transaction
     holds the write lock) and inserts the rest with one multi-row INSERT per chunk;
     with PostgreSQL, where several writers may race, INSERT ... ON CONFLICT DO
     NOTHING RETURNING lets the database say which rows it stored;
  3. moves each touched series' latest value forward (a small table whose pages stay
     in memory) and each device's last-seen time, at most once a second per device;
  4. adds the new values to the rollups' deltas, and about once a second writes them
     (see rollups.py);

then credits each request with its own stored and duplicate counts, and builds one
event per reading that stored at least one value. A key that appears twice in the
group (two requests resending the same reading at once) is counted as a duplicate
before the insert, so exactly one request is credited with storing it. Steps 2 and
the counting are in rows.py, with why they use driver-level SQL; everything else
in the server uses Core or the ORM.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Insert,
    RootTransaction,
    Table,
    bindparam,
    exc,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from app.db import is_busy, translate_storage_errors, writer_engine
from app.telemetry.devices import DeviceRef
from app.telemetry.events import MeasurementInserted
from app.telemetry.models import Device, Measurement, Series
from app.telemetry.quantities import QuantityError
from app.telemetry.readings import Reading
from app.telemetry.writing import rollups
from app.telemetry.writing.rows import (
    Rows,
    build_rows,
    credit,
    driver_cursor,
    insert_new,
    insert_returning,
)
from app.telemetry.writing.wal import WalFile

_measurements: Table = Measurement.__table__  # type: ignore[assignment]
_series: Table = Series.__table__  # type: ignore[assignment]
_devices: Table = Device.__table__  # type: ignore[assignment]

# Last-seen times are written at most this often per device; readers see one-second
# resolution, and a device posting many times a second costs one UPDATE, not many.
_LAST_SEEN_RESOLUTION = 1.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class QuantityLimitExceeded(QuantityError):
    """A device would exceed its number of quantities; the message names the new ones."""


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """The readings of one HTTP request, validated, waiting to be stored."""

    device: DeviceRef
    readings: Sequence[Reading]
    received_at: datetime

    @property
    def row_count(self) -> int:
        """How many measurement rows the request can produce."""
        return sum(len(r.values) for r in self.readings)


@dataclass(slots=True)
class WriteOutcome:
    """What the transaction did for one request."""

    stored: int = 0
    duplicates: int = 0
    events: list[MeasurementInserted] = field(default_factory=list)
    error: Exception | None = None


def _upsert_nothing(engine: Engine, table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING in the dialect of `engine`."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"{engine.dialect.name} is not supported; use SQLite or PostgreSQL")


_ADVANCE_LATEST_SQLITE = (
    "UPDATE series SET latest_value = ?, latest_at = ? "
    "WHERE id = ? AND (latest_at IS NULL OR latest_at < ?)"
)


def _time_codec(engine: Engine) -> Callable[[datetime], Any]:
    """How measured_at travels to the driver (see app.db.Timestamp)."""
    if engine.dialect.name == "sqlite":
        return lambda moment: (moment - _EPOCH) // _MICROSECOND
    return lambda moment: moment


class MeasurementStore:
    """Writes groups of requests; used from the writer only, one call at a time."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_quantities_per_device: int,
        busy_timeout_ms: int = 5000,
        durable: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = writer_engine(engine)
        self._busy_timeout_ms = busy_timeout_ms
        # Durable SQLite commits are synced by the writer's own thread (see wal.py).
        self.wal: WalFile | None = None
        if engine.dialect.name == "sqlite" and durable:
            self.wal = WalFile(busy_timeout_ms=busy_timeout_ms)
        self._max_quantities = max_quantities_per_device
        self._monotonic = monotonic
        self._placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._sqlite = engine.dialect.name == "sqlite"
        self._encode_time = _time_codec(engine)
        # (device id, quantity) -> series id. Filled from committed data only, so a rolled
        # back transaction cannot leave ids behind that do not exist.
        self._series_ids: dict[tuple[int, str], int] = {}
        # device id -> monotonic time its last-seen was last written.
        self._seen_written: dict[int, float] = {}
        # The writer keeps one connection: checking one out per transaction costs more
        # than the transaction's own statements when groups are small.
        self._conn: Connection | None = None
        self._transaction: RootTransaction | None = None
        # What the staged group created, applied to the caches once it commits.
        self._staged: _Staged | None = None
        self._rollups = rollups.RollupWriter(engine.dialect.name)
        self._last_flush = monotonic()
        self._insert_series = _upsert_nothing(engine, _series)
        self._advance_latest = (
            update(_series)
            .where(
                _series.c.id == bindparam("sid"),
                or_(_series.c.latest_at.is_(None), _series.c.latest_at < bindparam("at")),
            )
            .values(latest_value=bindparam("v"), latest_at=bindparam("at"))
        )
        self._advance_last_seen = (
            update(_devices)
            .where(
                _devices.c.id == bindparam("did"),
                or_(_devices.c.last_seen_at.is_(None), _devices.c.last_seen_at < bindparam("seen")),
            )
            .values(last_seen_at=bindparam("seen"))
        )

    @property
    def statements_block(self) -> bool:
        """True when statements wait on a network (PostgreSQL): run all of a write in a thread.

        With SQLite, statements inside an open IMMEDIATE transaction never wait for
        anyone: only `begin` (the lock) and `commit` (the fsync) do.
        """
        return not self._sqlite

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
            if self._conn is None:
                self._conn = self._connect()
            if not self._sqlite:
                self._transaction = self._conn.begin()
                return True
            driver = self._conn.connection.driver_connection
            assert driver is not None
            # Set on the sqlite3 connection directly: a statement through SQLAlchemy
            # would begin the transaction before the timeout is set.
            driver.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms if wait else 0}")
            try:
                self._transaction = self._conn.begin()
            except exc.OperationalError as error:
                if wait or not is_busy(error):
                    raise
                # BEGIN failed, so nothing is open; the next begin() starts afresh.
                return False
            return True

    def _connect(self) -> Connection:
        conn = self._engine.connect()
        if self.wal is not None:
            driver = conn.connection.driver_connection
            assert driver is not None
            try:
                self.wal.attach(driver)
            except BaseException:
                conn.invalidate()
                raise
            # Commit without fsync and without checkpointing: the flusher thread does
            # both (WalFile), so neither stalls the event loop or the next transaction.
            driver.execute("PRAGMA synchronous = NORMAL")
            driver.execute("PRAGMA wal_autocheckpoint = 0")
        return conn

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
        conn = self._conn
        outcomes = [WriteOutcome() for _ in requests]
        with self._failures_close_connection():
            series_ids = self._resolve_series(conn, requests, outcomes)
            rows = build_rows(requests, outcomes, series_ids, self._encode_time)
            if self._sqlite:
                present = insert_new(conn, rows.values)
            else:
                present = insert_returning(conn, rows.values, self._placeholder)
            credit(requests, outcomes, rows, present)
            self._advance(conn, rows, present)
            seen = self._touch_last_seen(conn, requests, outcomes)
            deltas, flush = self._stage_rollups(conn, rows, present, force=flush_rollups)
        self._staged = _Staged(series_ids, seen, deltas, flush)
        return outcomes

    @property
    def rollups_due(self) -> bool:
        """True when committed values wait for the rollups and a flush is due."""
        return bool(self._rollups.unflushed) and self._flush_due()

    def _flush_due(self) -> bool:
        return self._monotonic() - self._last_flush >= rollups.FLUSH_INTERVAL

    def _stage_rollups(
        self, conn: Connection, rows: Rows, present: set[tuple[int, Any]], *, force: bool
    ) -> tuple[rollups.Deltas, bool]:
        deltas = rollups.Deltas()
        deltas.add_rows(rows.values, self._rollups.minute_of, self._rollups.hour_of, present)
        flush = (force or self._flush_due()) and bool(deltas or self._rollups.unflushed)
        self._rollups.stage(conn, deltas, flush=flush)
        return deltas, flush

    def rebuild_rollups(self) -> int:
        """Fold in what a previous process committed but never rolled up (at start-up)."""
        with self._failures_close_connection():
            if self._conn is None:
                self._conn = self._connect()
            with self._conn.begin():
                return rollups.rebuild_pending(self._conn)

    def flush_rollups(self) -> None:
        """A transaction with no readings that writes the pending rollup deltas."""
        self.begin()
        try:
            self.stage([], flush_rollups=True)
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def commit(self) -> None:
        """Commit the staged group (durable at once, or after `sync` with a WalFile)."""
        assert self._transaction is not None, "call begin() first"
        with self._failures_close_connection():
            self._transaction.commit()
        self._transaction = None
        staged, self._staged = self._staged, None
        if staged is not None:
            self._series_ids = staged.series_ids
            self._seen_written.update(staged.seen)
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

    def _resolve_series(
        self, conn: Connection, requests: Sequence[WriteRequest], outcomes: list[WriteOutcome]
    ) -> dict[tuple[int, str], int]:
        """Series ids of every (device, quantity) in the group, creating the missing ones.

        A request that would take its device past the quantity limit gets an error
        outcome and creates nothing; the other requests go on.
        """
        known_ids = self._series_ids
        if all(
            (request.device.id, quantity) in known_ids
            for request in requests
            for reading in request.readings
            for quantity in reading.values
        ):
            return known_ids
        devices = {request.device.id for request in requests}
        known = self._load_series(conn, devices)
        counts = Counter(device_id for device_id, _ in known)
        creating: set[tuple[int, str]] = set()
        for request, outcome in zip(requests, outcomes, strict=True):
            device_id = request.device.id
            new = (
                {(device_id, q) for reading in request.readings for q in reading.values}
                - known.keys()
                - creating
            )
            if not new:
                continue
            if counts[device_id] + len(new) > self._max_quantities:
                names = ", ".join(sorted(q for _, q in new))
                outcome.error = QuantityLimitExceeded(
                    f"device {request.device.name!r} has {counts[device_id]} quantities and "
                    f"may have at most {self._max_quantities}; refused new quantities: {names}"
                )
                continue
            counts[device_id] += len(new)
            creating |= new
        if creating:
            conn.execute(
                self._insert_series,
                [{"device_id": d, "quantity": q} for d, q in sorted(creating)],
            )
            known = self._load_series(conn, devices)
        return {**known_ids, **known}

    def _load_series(self, conn: Connection, device_ids: set[int]) -> dict[tuple[int, str], int]:
        query = select(_series.c.id, _series.c.device_id, _series.c.quantity).where(
            _series.c.device_id.in_(sorted(device_ids))
        )
        return {(row.device_id, row.quantity): row.id for row in conn.execute(query)}

    def _advance(self, conn: Connection, rows: Rows, present: set[tuple[int, Any]]) -> None:
        """Move each series' latest value forward, never backward (late data stays late)."""
        latest: dict[int, tuple[Any, int]] = {}
        for position, (series_id, at, _) in enumerate(rows.values):
            current = latest.get(series_id)
            if (current is None or current[0] < at) and (
                not present or (series_id, at) not in present
            ):
                latest[series_id] = (at, position)
        if not latest:
            return
        if self._sqlite:
            # The statement runs for every series a group touches: the sqlite3 cursor
            # with already-encoded times is several times cheaper than Core here.
            driver_cursor(conn).executemany(
                _ADVANCE_LATEST_SQLITE,
                [
                    (rows.values[position][2], at, series_id, at)
                    for series_id, (at, position) in latest.items()
                ],
            )
            return
        conn.execute(
            self._advance_latest,
            [
                {
                    "sid": series_id,
                    "at": rows.readings[position].measured_at,
                    "v": rows.values[position][2],
                }
                for series_id, (_, position) in latest.items()
            ],
        )

    def _touch_last_seen(
        self, conn: Connection, requests: Sequence[WriteRequest], outcomes: list[WriteOutcome]
    ) -> dict[int, float]:
        """Move last-seen times forward, never backward, at most once a second per device."""
        now = self._monotonic()
        seen: dict[int, datetime] = {}
        for request, outcome in zip(requests, outcomes, strict=True):
            device_id = request.device.id
            if outcome.error is not None:
                continue
            if (
                now - self._seen_written.get(device_id, -_LAST_SEEN_RESOLUTION)
                < _LAST_SEEN_RESOLUTION
            ):
                continue
            if device_id not in seen or seen[device_id] < request.received_at:
                seen[device_id] = request.received_at
        if seen:
            conn.execute(self._advance_last_seen, [{"did": d, "seen": t} for d, t in seen.items()])
        return dict.fromkeys(seen, now)


@dataclass(frozen=True, slots=True)
class _Staged:
    """What a staged group changes in the store's memory once it commits."""

    series_ids: dict[tuple[int, str], int]
    seen: dict[int, float]
    deltas: rollups.Deltas
    flushed: bool
