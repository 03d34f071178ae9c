"""Per-minute and per-hour rollups (min, max, sum, count), kept current by the writer.

    group N:   readings ──> measurements            ┐
               minutes touched ──> rollups_pending  ├ one transaction
    (every ~1 s) all deltas since the last flush    │
               ──> rollups_minute/_hour upserts     │
               ──> rollups_pending deleted          ┘

The writer adds each stored value to in-memory deltas (late and backfilled readings
too: a delta belongs to whatever bucket its measured_at falls in) and writes them with
one upsert per (series, bucket) about once a second, inside an ingest transaction. The
minutes touched since the last flush are marked durably, so if the process dies before
a flush, start-up rebuilds exactly those minutes (and their hours) from the raw rows.
Nothing in memory is trusted across a restart; a committed reading always reaches the
rollups.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, literal, select

from app.db import EPOCH, Timestamp
from app.telemetry.models import Measurement, RollupHour, RollupMinute, RollupPending
from app.telemetry.writing.dialect import WriteDialect

_minute: Table = RollupMinute.__table__  # type: ignore[assignment]
_hour: Table = RollupHour.__table__  # type: ignore[assignment]
_pending: Table = RollupPending.__table__  # type: ignore[assignment]
_measurements: Table = Measurement.__table__  # type: ignore[assignment]

FLUSH_INTERVAL = 1.0  # seconds between rollup upserts


def floor_time(moment: datetime, width: timedelta) -> datetime:
    """The start of the bucket of `width` that holds `moment` (aligned to the epoch)."""
    return EPOCH + (moment - EPOCH) // width * width


@dataclass(slots=True)
class _Delta:
    low: float
    high: float
    total: float
    count: int

    def merge(self, other: _Delta) -> None:
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        self.total += other.total
        self.count += other.count


Key = tuple[int, Any]  # (series id, encoded bucket start)


@dataclass(slots=True)
class Deltas:
    """Changes to the minute and hour rollups, plus the minutes they touch."""

    minute: dict[Key, _Delta] = field(default_factory=dict)
    hour: dict[Key, _Delta] = field(default_factory=dict)
    minutes: set[Any] = field(default_factory=set)

    def add_rows(
        self,
        rows: Iterable[tuple[int, Any, float]],
        minute_of: Callable[[Any], Any],
        hour_of: Callable[[Any], Any],
        skip: set[tuple[int, Any]],
    ) -> None:
        """Count every (series, encoded time, value) row whose key is not in `skip`.

        The hot loop of every write: rows of one series mostly fall in the bucket of
        the row before, so each series' current pair of deltas is kept at hand and the
        dictionaries are only consulted when a bucket changes.
        """
        current: dict[int, tuple[Any, _Delta, _Delta]] = {}
        minutes = self.minutes
        for series_id, at, value in rows:
            if skip and (series_id, at) in skip:
                continue
            minute = minute_of(at)
            hot = current.get(series_id)
            if hot is None or hot[0] != minute:
                hour = hour_of(at)
                hot = (minute, self._delta(self.minute, (series_id, minute)),
                       self._delta(self.hour, (series_id, hour)))  # fmt: skip
                current[series_id] = hot
                minutes.add(minute)
            for delta in (hot[1], hot[2]):
                if delta.count == 0:
                    delta.low = delta.high = value
                elif value < delta.low:
                    delta.low = value
                elif value > delta.high:
                    delta.high = value
                delta.total += value
                delta.count += 1

    @staticmethod
    def _delta(buckets: dict[Key, _Delta], key: Key) -> _Delta:
        delta = buckets.get(key)
        if delta is None:
            delta = buckets[key] = _Delta(0.0, 0.0, 0.0, 0)
        return delta

    def merge(self, other: Deltas) -> None:
        """Fold `other` into these deltas."""
        for mine, theirs in ((self.minute, other.minute), (self.hour, other.hour)):
            for key, delta in theirs.items():
                existing = mine.get(key)
                if existing is None:
                    mine[key] = _Delta(delta.low, delta.high, delta.total, delta.count)
                else:
                    existing.merge(delta)
        self.minutes |= other.minutes

    def __bool__(self) -> bool:
        return bool(self.minute)


class RollupWriter:
    """Writes deltas and pending marks inside the writer's transactions."""

    def __init__(self, dialect: WriteDialect) -> None:
        self._dialect = dialect
        self.minute_of = dialect.minute_of
        self.hour_of = dialect.hour_of
        # Committed but not yet flushed: the deltas, and the minutes marked pending.
        self.unflushed = Deltas()

    def stage(self, conn: Connection, group: Deltas, *, flush: bool) -> None:
        """Mark the group's new minutes pending, or flush everything if `flush`."""
        if flush:
            everything = Deltas()
            everything.merge(self.unflushed)
            everything.merge(group)
            for level, buckets in ((_minute, everything.minute), (_hour, everything.hour)):
                if buckets:
                    self._dialect.upsert_rollups(
                        conn,
                        level,
                        [
                            (series_id, bucket, d.low, d.high, d.total, d.count)
                            for (series_id, bucket), d in buckets.items()
                        ],
                    )
            if self.unflushed.minutes:
                starts = self._dialect.bucket_starts(self.unflushed.minutes)
                conn.execute(delete(_pending).where(_pending.c.minute.in_(starts)))
            return
        new = group.minutes - self.unflushed.minutes
        if new:
            self._dialect.mark_pending(conn, new)

    def committed(self, group: Deltas, *, flushed: bool) -> None:
        """The transaction that staged `group` committed."""
        if flushed:
            self.unflushed = Deltas()
        else:
            self.unflushed.merge(group)


def rebuild_pending(conn: Connection) -> int:
    """Recompute, from the raw readings, every minute left pending (and its hour).

    Run at start-up, before the writer: these minutes hold readings committed by a
    process that stopped before folding them into the rollups. Returns their number.
    """
    minutes = list(conn.execute(select(_pending.c.minute)).scalars())
    hours = {floor_time(m, timedelta(hours=1)) for m in minutes}
    for minute in minutes:
        conn.execute(delete(_minute).where(_minute.c.bucket == minute))
        conn.execute(
            insert(_minute).from_select(
                ["series_id", "bucket", "min", "max", "sum", "count"],
                select(
                    _measurements.c.series_id,
                    literal(minute, Timestamp()),
                    func.min(_measurements.c.value),
                    func.max(_measurements.c.value),
                    func.sum(_measurements.c.value),
                    func.count(),
                )
                .where(
                    _measurements.c.measured_at >= minute,
                    _measurements.c.measured_at < minute + timedelta(minutes=1),
                )
                .group_by(_measurements.c.series_id),
            )
        )
    for hour in hours:
        conn.execute(delete(_hour).where(_hour.c.bucket == hour))
        conn.execute(
            insert(_hour).from_select(
                ["series_id", "bucket", "min", "max", "sum", "count"],
                select(
                    _minute.c.series_id,
                    literal(hour, Timestamp()),
                    func.min(_minute.c.min),
                    func.max(_minute.c.max),
                    func.sum(_minute.c.sum),
                    func.sum(_minute.c.count),
                )
                .where(_minute.c.bucket >= hour, _minute.c.bucket < hour + timedelta(hours=1))
                .group_by(_minute.c.series_id),
            )
        )
    conn.execute(delete(_pending))
    return len(minutes)
