"""History of a series: bucketed from the rollups, with empty buckets where data is missing.

    requested range / max_points = the width a bucket should have
        under 30 min: minute rollups, merged k minutes to a bucket
        30 min or more (or older than the minute rollups are kept): hour rollups

so a month reads at most 720 hourly rows, a day 1,440 minute rows, whatever the
device's rate; raw rows are never scanned for a chart. Every bucket in the range is
returned, and one without data has no min, max or mean: a chart draws it as a gap
instead of a line across the outage.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, ColumnElement, Connection, Engine, func, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute

from app.db import encode_time, microseconds, translate_storage_errors
from app.telemetry.clock import Clock
from app.telemetry.device_names import normalize_device_name
from app.telemetry.devices import DeviceNotFound
from app.telemetry.models import Device, Measurement, RollupHour, RollupMinute, Series
from app.telemetry.quantities import unit_of
from app.telemetry.writing.rollups import floor_time

HOURLY_FROM = timedelta(minutes=30)  # bucket widths from this up read hourly rollups
RAW_CHUNK = 5000


class HistoryError(ValueError):
    """A history query that cannot be answered; the message says why."""


class SeriesNotFound(HistoryError):
    """The device has no such quantity."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket: its start, and min/max/mean of the values in it (None when empty)."""

    start: datetime
    min: float | None
    max: float | None
    mean: float | None
    count: int


@dataclass(frozen=True, slots=True)
class SeriesHistory:
    """The buckets of one series over a range."""

    device: str
    quantity: str
    unit: str | None
    start: datetime
    end: datetime
    width: timedelta
    level: str
    buckets: list[Bucket]


def _bucket_index(
    conn: Connection, bucket: InstrumentedAttribute[datetime], first: datetime, width: timedelta
) -> ColumnElement[int]:
    """SQL for the index of the bucket of `width` from `first` that a rollup falls in."""
    if conn.dialect.name == "sqlite":  # buckets are integer microseconds (app.db.encode_time)
        micros = type_coerce(bucket, BigInteger)
        return (micros - encode_time(first)) // microseconds(width)
    seconds = func.extract("epoch", bucket - first)
    return func.floor(seconds / width.total_seconds())


def choose_width(start: datetime, end: datetime, max_points: int, level: timedelta) -> timedelta:
    """The smallest multiple of `level` that cuts [start, end) into at most max_points buckets."""
    span = end - start
    multiple = max(1, math.ceil(span / max_points / level))
    while True:
        width = level * multiple
        first = floor_time(start, width)
        if math.ceil((end - first) / width) <= max_points:
            return width
        multiple += 1


class History:
    """Read side of the measurements: series buckets and raw exports."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        minute_retention: timedelta,
        raw_chunk: int = RAW_CHUNK,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._minute_retention = minute_retention
        self._raw_chunk = raw_chunk  # rows a raw export holds in memory at once

    def series(
        self, device: str, quantity: str, start: datetime, end: datetime, max_points: int
    ) -> SeriesHistory:
        """Buckets of `quantity` of `device` over [start, end), at most max_points of them."""
        if end <= start:
            raise HistoryError("`to` must be after `from`")
        minute_kept_since = self._clock() - self._minute_retention
        desired = (end - start) / max_points
        hourly = desired >= HOURLY_FROM or start < minute_kept_since
        table = RollupHour if hourly else RollupMinute
        level = timedelta(hours=1) if hourly else timedelta(minutes=1)
        width = choose_width(start, end, max_points, level)
        first = floor_time(start, width)
        count = math.ceil((end - first) / width)
        with translate_storage_errors(), self._engine.connect() as conn:
            series_id, name = self._series(conn, device, quantity)
            # Merged in the database: a week at ten-minute buckets reads 10,080 minute
            # rows but hands back 1,008.
            index = _bucket_index(conn, table.bucket, first, width).label("i")
            rows = conn.execute(
                select(
                    index,
                    func.min(table.min),
                    func.max(table.max),
                    func.sum(table.sum),
                    func.sum(table.count),
                )
                .where(table.series_id == series_id, table.bucket >= first, table.bucket < end)
                .group_by(index)
            ).all()
        lows: list[float | None] = [None] * count
        highs: list[float | None] = [None] * count
        sums = [0.0] * count
        counts = [0] * count
        for i, low, high, total, number in rows:
            lows[int(i)], highs[int(i)], sums[int(i)], counts[int(i)] = low, high, total, number
        return SeriesHistory(
            device=name,
            quantity=quantity,
            unit=unit_of(quantity),
            start=start,
            end=end,
            width=width,
            level="hour" if hourly else "minute",
            buckets=[
                Bucket(
                    start=first + width * i,
                    min=lows[i],
                    max=highs[i],
                    mean=sums[i] / counts[i] if counts[i] else None,
                    count=counts[i],
                )
                for i in range(count)
            ],
        )

    def raw(
        self, device: str, quantity: str, start: datetime, end: datetime
    ) -> Iterator[tuple[datetime, float]]:
        """Every stored (measured_at, value) of the series in [start, end), oldest first.

        Streams in chunks, so an export of weeks holds a few thousand rows in memory.
        """
        with translate_storage_errors(), self._engine.connect() as conn:
            series_id, _ = self._series(conn, device, quantity)
        cursor = start
        while True:
            with translate_storage_errors(), self._engine.connect() as conn:
                rows = conn.execute(
                    select(Measurement.measured_at, Measurement.value)
                    .where(
                        Measurement.series_id == series_id,
                        Measurement.measured_at >= cursor,
                        Measurement.measured_at < end,
                    )
                    .order_by(Measurement.measured_at)
                    .limit(self._raw_chunk)
                ).all()
            yield from ((at, value) for at, value in rows)
            if len(rows) < self._raw_chunk:
                return
            cursor = rows[-1][0] + timedelta(microseconds=1)

    def quantities(self, device: str) -> list[str]:
        """The quantities a device has posted, in name order."""
        with translate_storage_errors(), self._engine.connect() as conn:
            device_id = self._device_id(conn, device)
            return list(
                conn.execute(
                    select(Series.quantity)
                    .where(Series.device_id == device_id)
                    .order_by(Series.quantity)
                ).scalars()
            )

    def first_since(self, device_id: int, since: datetime) -> datetime | None:
        """When the device's earliest reading at or after `since` was measured.

        Read from the raw rows, which are committed with the answer (the rollups may lag
        a second), one index seek per series.
        """
        earliest = (
            select(func.min(Measurement.measured_at))
            .where(Measurement.series_id == Series.id, Measurement.measured_at >= since)
            .correlate(Series)
            .scalar_subquery()
        )
        with translate_storage_errors(), self._engine.connect() as conn:
            firsts = conn.execute(select(earliest).where(Series.device_id == device_id)).scalars()
            return min((first for first in firsts if first is not None), default=None)

    def _device_id(self, conn: Connection, device: str) -> int:
        name = normalize_device_name(device)
        device_id = conn.execute(select(Device.id).where(Device.name == name)).scalar()
        if device_id is None:
            raise DeviceNotFound(f"no device is named {name!r}")
        return int(device_id)

    def _series(self, conn: Connection, device: str, quantity: str) -> tuple[int, str]:
        name = normalize_device_name(device)
        row = conn.execute(
            select(Device.id, Series.id)
            .outerjoin(Series, (Series.device_id == Device.id) & (Series.quantity == quantity))
            .where(Device.name == name)
        ).first()
        if row is None:
            raise DeviceNotFound(f"no device is named {name!r}")
        if row[1] is None:
            raise SeriesNotFound(f"device {name!r} has no readings of {quantity!r}")
        return int(row[1]), name
