"""Every device's stored state at once, for views that start from it (the live hub).

Four statements whatever the number of devices: the devices, their series with the
latest values the writer keeps, the minute rollups since a time, and each device's
last minutes with readings (for its rhythm). The last one reads, per device, only the
newest few rollup rows of its most recently updated series, however long ago they
were: a primary-key seek from the end of that series, not a scan of its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Executable, Table, func, literal, select

from app.db import EPOCH, Timestamp
from app.telemetry.models import Device, RollupMinute, Series
from app.telemetry.quantities import unit_of

_devices: Table = Device.__table__  # type: ignore[assignment]
_series: Table = Series.__table__  # type: ignore[assignment]
_minutes: Table = RollupMinute.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class MinuteTotal:
    """One series' values in one minute: sum, count, smallest and largest."""

    start: datetime
    total: float
    count: int
    minimum: float
    maximum: float


@dataclass(frozen=True, slots=True)
class QuantityState:
    """One quantity of a device: its newest value (if any) and its recent minutes."""

    name: str
    unit: str | None
    value: float | None
    measured_at: datetime | None
    minutes: tuple[MinuteTotal, ...]  # since the time asked for, oldest first


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A device as stored: identity, when it was last heard from, and its quantities."""

    id: int
    name: str
    last_seen_at: datetime | None
    quantities: tuple[QuantityState, ...]  # in name order
    # Its most recently updated series' last minutes with readings, newest first:
    # (minute start, number of readings), the raw material of its rhythm.
    recent_minutes: tuple[tuple[datetime, int], ...]


def read_device_states(conn: Connection, *, since: datetime, recent: int) -> list[DeviceState]:
    """Every device in name order; minutes from `since`, `recent` minutes with readings."""
    devices = conn.execute(
        select(_devices.c.id, _devices.c.name, _devices.c.last_seen_at).order_by(_devices.c.name)
    ).all()
    series = conn.execute(
        select(
            _series.c.id,
            _series.c.device_id,
            _series.c.quantity,
            _series.c.latest_value,
            _series.c.latest_at,
        ).order_by(_series.c.device_id, _series.c.quantity)
    ).all()
    minutes: dict[int, list[MinuteTotal]] = {}
    for series_id, start, total, count, low, high in conn.execute(
        select(
            _minutes.c.series_id,
            _minutes.c.bucket,
            _minutes.c.sum,
            _minutes.c.count,
            _minutes.c.min,
            _minutes.c.max,
        )
        .where(_minutes.c.bucket >= since)
        .order_by(_minutes.c.series_id, _minutes.c.bucket)
    ):
        minutes.setdefault(series_id, []).append(MinuteTotal(start, total, count, low, high))
    rhythm: dict[int, list[tuple[datetime, int]]] = {}
    for device_id, start, count in conn.execute(_recent_minutes_query(recent)):
        rhythm.setdefault(device_id, []).append((start, count))
    quantities: dict[int, list[QuantityState]] = {}
    for series_id, device_id, quantity, value, at in series:
        quantities.setdefault(device_id, []).append(
            QuantityState(quantity, unit_of(quantity), value, at, tuple(minutes.get(series_id, ())))
        )
    return [
        DeviceState(
            device_id,
            name,
            last_seen,
            tuple(quantities.get(device_id, ())),
            tuple(rhythm.get(device_id, ())),
        )
        for device_id, name, last_seen in devices
    ]


def _recent_minutes_query(recent: int) -> Executable:
    """(device id, minute, count) of each device's newest series' last `recent` minutes."""
    other = _series.alias("other")
    newest_of_device = (
        select(other.c.id)
        .where(other.c.device_id == _series.c.device_id, other.c.latest_at.is_not(None))
        .order_by(other.c.latest_at.desc(), other.c.id)
        .limit(1)
        .scalar_subquery()
    )
    earlier = _minutes.alias("earlier")
    # The start of the `recent`-th newest minute: the range read below starts there.
    cutoff = (
        select(earlier.c.bucket)
        .where(earlier.c.series_id == _series.c.id)
        .order_by(earlier.c.bucket.desc())
        .limit(1)
        .offset(recent - 1)
        .scalar_subquery()
    )
    newest = (
        select(_series.c.id.label("series_id"), _series.c.device_id, cutoff.label("cutoff"))
        .where(_series.c.id == newest_of_device)
        .cte("newest")
    )
    return (
        select(newest.c.device_id, _minutes.c.bucket, _minutes.c.count)
        .join_from(newest, _minutes, _minutes.c.series_id == newest.c.series_id)
        .where(_minutes.c.bucket >= func.coalesce(newest.c.cutoff, literal(EPOCH, Timestamp())))
        .order_by(newest.c.device_id, _minutes.c.bucket.desc())
    )
