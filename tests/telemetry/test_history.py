"""History queries: buckets from the rollups, gaps where nothing was measured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from app.telemetry import DeviceNotFound, DeviceRef, History, Reading, SeriesNotFound
from app.telemetry.history import choose_width
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.transaction import GroupTransaction
from tests.factories import FakeClock, register

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)


def store_readings(
    engine: Engine, device: DeviceRef, points: list[tuple[timedelta, float]]
) -> None:
    store = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    readings = [Reading(T0 + offset, {"temperature": value}) for offset, value in points]
    for start in range(0, len(readings), 2000):
        store.write([WriteRequest(device, readings[start : start + 2000], received_at=NOW)])
    store.flush_rollups()
    store.close()


def history(engine: Engine) -> History:
    return History(engine, FakeClock(NOW), minute_retention=timedelta(days=90))


def test_a_day_at_minute_resolution_has_a_gap_where_the_device_was_silent(engine: Engine) -> None:
    (device,) = register(engine, "greenhouse")
    # Every 10 s for a day, except a silent hour from 06:00 to 07:00.
    points = [
        (timedelta(seconds=s), 20.0 + (s % 60) / 60)
        for s in range(0, 86400, 10)
        if not 6 * 3600 <= s < 7 * 3600
    ]
    store_readings(engine, device, points)
    result = history(engine).series("greenhouse", "temperature", T0, T0 + timedelta(days=1), 1440)
    assert result.level == "minute"
    assert result.width == timedelta(minutes=1)
    assert len(result.buckets) == 1440
    silent = [b for b in result.buckets if b.count == 0]
    assert [b.start for b in silent] == [T0 + timedelta(hours=6, minutes=m) for m in range(60)]
    assert all(b.min is None and b.max is None and b.mean is None for b in silent)
    first = result.buckets[0]
    assert (first.count, first.min, first.max) == (6, 20.0, 20.0 + 50 / 60)
    assert first.mean == pytest.approx(sum(20.0 + s / 60 for s in range(0, 60, 10)) / 6)


def test_fewer_points_wanted_means_wider_buckets_never_more_than_asked(engine: Engine) -> None:
    (device,) = register(engine, "greenhouse")
    store_readings(engine, device, [(timedelta(minutes=m), float(m)) for m in range(0, 1440, 5)])
    result = history(engine).series("greenhouse", "temperature", T0, T0 + timedelta(days=1), 100)
    assert len(result.buckets) <= 100
    assert result.width == timedelta(minutes=15)
    assert sum(b.count for b in result.buckets) == 288
    assert result.buckets[1].min == 15.0 and result.buckets[1].max == 25.0
    assert result.buckets[1].mean == 20.0 and result.buckets[1].count == 3
    # A range that does not start on a bucket boundary: the first bucket starts before it.
    later = history(engine).series(
        "greenhouse", "temperature", T0 + timedelta(minutes=20), T0 + timedelta(hours=2), 7
    )
    assert later.width == timedelta(minutes=15)
    assert later.buckets[0].start == T0 + timedelta(minutes=15)
    assert [b.count for b in later.buckets] == [3] * 7
    assert [b.mean for b in later.buckets] == [20.0 + 15 * i for i in range(7)]


def test_long_ranges_read_hourly_rollups(engine: Engine) -> None:
    (device,) = register(engine, "greenhouse")
    store_readings(engine, device, [(timedelta(hours=h), float(h)) for h in range(24)])
    start = NOW - timedelta(days=30)
    result = history(engine).series("greenhouse", "temperature", start, NOW, 1000)
    assert result.level == "hour"
    assert len(result.buckets) == 720
    assert sum(b.count for b in result.buckets) == 24


@pytest.mark.parametrize(
    ("span", "points", "level", "expected"),
    [
        (timedelta(hours=1), 1000, timedelta(minutes=1), timedelta(minutes=1)),
        (timedelta(days=1), 1000, timedelta(minutes=1), timedelta(minutes=2)),
        (timedelta(days=7), 1000, timedelta(minutes=1), timedelta(minutes=11)),
        (timedelta(days=30), 1000, timedelta(hours=1), timedelta(hours=1)),
        (timedelta(days=365), 1000, timedelta(hours=1), timedelta(hours=9)),
    ],
)
def test_the_bucket_width_is_the_smallest_that_fits(
    span: timedelta, points: int, level: timedelta, expected: timedelta
) -> None:
    start = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    assert choose_width(start, start + span, points, level) == expected


def test_raw_export_streams_every_reading_in_order(engine: Engine) -> None:
    (device,) = register(engine, "greenhouse")
    store_readings(engine, device, [(timedelta(seconds=s), float(s)) for s in range(12000)])
    rows = list(history(engine).raw("greenhouse", "temperature", T0, T0 + timedelta(hours=1)))
    assert len(rows) == 3600
    assert rows[0] == (T0, 0.0)
    assert [v for _, v in rows] == [float(s) for s in range(3600)]


@pytest.mark.parametrize("chunk", [1000, 1200, 3600, 5000])
def test_raw_export_holds_one_chunk_at_a_time_and_loses_nothing_between_chunks(
    engine: Engine, chunk: int
) -> None:
    (device,) = register(engine, "greenhouse")
    store_readings(engine, device, [(timedelta(seconds=s), float(s)) for s in range(3700)])
    exporter = History(engine, FakeClock(NOW), minute_retention=timedelta(days=1), raw_chunk=chunk)
    rows = list(exporter.raw("greenhouse", "temperature", T0, T0 + timedelta(hours=1)))
    assert [v for _, v in rows] == [float(s) for s in range(3600)]


def test_unknown_devices_and_quantities_are_named(engine: Engine) -> None:
    register(engine, "greenhouse")
    with pytest.raises(DeviceNotFound, match="ghost"):
        history(engine).series("ghost", "temperature", T0, NOW, 10)
    with pytest.raises(SeriesNotFound, match="no readings of 'pressure'"):
        history(engine).series("greenhouse", "pressure", T0, NOW, 10)
