"""Rollups: kept by the writer, late data included, rebuilt after a crash."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from app.bus import InProcessBus
from app.db import create_db_engine
from app.telemetry import DeviceRef, Measurements, Reading, floor_time
from app.telemetry.models import RollupHour, RollupMinute, RollupPending
from app.telemetry.writing import rollups
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.transaction import GroupTransaction
from tests.factories import make_settings, register

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_store(engine: Engine, ticker: Ticker) -> GroupTransaction:
    return GroupTransaction(engine, max_quantities_per_device=8, monotonic=ticker, durable=False)


def write(store: GroupTransaction, device: DeviceRef, *points: tuple[float, float]) -> None:
    """Store temperature values at T0 + seconds."""
    readings = [Reading(T0 + timedelta(seconds=s), {"temperature": v}) for s, v in points]
    store.write([WriteRequest(device, readings, received_at=T0)])


def buckets(engine: Engine, table: type[RollupMinute] | type[RollupHour]) -> dict[datetime, tuple]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.bucket, table.min, table.max, table.sum, table.count).order_by(
                table.bucket
            )
        )
        return {row.bucket: (row.min, row.max, row.sum, row.count) for row in rows}


def pending(engine: Engine) -> list[datetime]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(RollupPending.minute)).scalars())


def test_values_reach_the_minute_and_hour_rollups_at_the_next_flush(engine: Engine) -> None:
    ticker = Ticker()
    store = make_store(engine, ticker)
    (device,) = register(engine, "greenhouse")
    write(store, device, (0, 20.0), (10, 22.0), (70, 19.0))
    assert buckets(engine, RollupMinute) == {}  # not yet: flushed about once a second
    assert pending(engine) == [T0, T0 + timedelta(minutes=1)]
    ticker.now += rollups.FLUSH_INTERVAL
    write(store, device, (80, 21.0))
    assert buckets(engine, RollupMinute) == {
        T0: (20.0, 22.0, 42.0, 2),
        T0 + timedelta(minutes=1): (19.0, 21.0, 40.0, 2),
    }
    assert buckets(engine, RollupHour) == {T0: (19.0, 22.0, 82.0, 4)}
    assert pending(engine) == []
    store.close()


def test_late_readings_update_their_own_buckets(engine: Engine) -> None:
    ticker = Ticker()
    store = make_store(engine, ticker)
    (device,) = register(engine, "greenhouse")
    write(store, device, (0, 20.0))
    ticker.now += 5
    write(store, device, (-3600 * 5, 5.0), (-3600 * 5 + 1, 7.0))  # five hours late
    ticker.now += 5
    store.flush_rollups()
    minutes = buckets(engine, RollupMinute)
    assert minutes[T0 - timedelta(hours=5)] == (5.0, 7.0, 12.0, 2)
    assert minutes[T0] == (20.0, 20.0, 20.0, 1)
    assert buckets(engine, RollupHour)[T0 - timedelta(hours=5)] == (5.0, 7.0, 12.0, 2)
    store.close()


def test_duplicates_do_not_count_twice(engine: Engine) -> None:
    ticker = Ticker()
    store = make_store(engine, ticker)
    (device,) = register(engine, "greenhouse")
    write(store, device, (0, 20.0))
    write(store, device, (0, 99.0), (1, 21.0))  # the first is a resend
    store.flush_rollups()
    assert buckets(engine, RollupMinute) == {T0: (20.0, 21.0, 41.0, 2)}
    store.close()


def test_a_rolled_back_group_leaves_the_rollups_alone(engine: Engine) -> None:
    ticker = Ticker()
    store = make_store(engine, ticker)
    (device,) = register(engine, "greenhouse")
    store.begin()
    store.stage([WriteRequest(device, [Reading(T0, {"temperature": 1.0})], received_at=T0)])
    store.rollback()
    write(store, device, (5, 30.0))
    store.flush_rollups()
    assert buckets(engine, RollupMinute) == {T0: (30.0, 30.0, 30.0, 1)}
    store.close()


def test_minutes_left_pending_by_a_crash_are_rebuilt_from_the_readings(engine: Engine) -> None:
    ticker = Ticker()
    store = make_store(engine, ticker)
    (device,) = register(engine, "greenhouse")
    write(store, device, (0, 20.0), (30, 24.0))
    ticker.now += 5
    write(store, device, (90, 18.0))  # flushed: minute 0 complete, minute 1 in
    write(store, device, (100, 12.0), (3600, 40.0))  # committed, never flushed
    store.close()  # the process dies here: its in-memory deltas are gone
    assert set(pending(engine)) == {T0 + timedelta(minutes=1), T0 + timedelta(hours=1)}

    fresh = make_store(engine, Ticker())
    assert fresh.rebuild_rollups() == 2
    assert pending(engine) == []
    assert buckets(engine, RollupMinute) == {
        T0: (20.0, 24.0, 44.0, 2),
        T0 + timedelta(minutes=1): (12.0, 18.0, 30.0, 2),
        T0 + timedelta(hours=1): (40.0, 40.0, 40.0, 1),
    }
    assert buckets(engine, RollupHour) == {
        T0: (12.0, 24.0, 74.0, 4),
        T0 + timedelta(hours=1): (40.0, 40.0, 40.0, 1),
    }
    fresh.close()


@pytest.mark.anyio
async def test_an_idle_writer_still_folds_the_last_values_in(sqlite_url: str) -> None:
    ticker = Ticker()
    engine = create_db_engine(make_settings(sqlite_url))
    context = Measurements(
        engine,
        InProcessBus(),
        queue_limit=10,
        batch_rows=100,
        max_quantities_per_device=8,
        rollup_flush_seconds=0.05,
        monotonic=ticker,
    )
    await context.start()
    try:
        (device,) = register(engine, "greenhouse")
        await context.record(device, [Reading(T0, {"temperature": 20.0})], received_at=T0)
        assert buckets(engine, RollupMinute) == {}  # its clock says no flush is due yet
        ticker.now += 1  # no other write comes: the idle writer flushes by itself
        with anyio.fail_after(5):
            await context.rollups_flushed()
        assert buckets(engine, RollupMinute) == {T0: (20.0, 20.0, 20.0, 1)}
    finally:
        await context.stop()
        engine.dispose()


@pytest.mark.anyio
async def test_with_a_flush_interval_of_0_rollups_are_written_with_each_group(
    sqlite_url: str,
) -> None:
    # What `telemetry import` runs with: nothing is ever marked pending, and the idle
    # writer waits for work instead of spinning on a timeout of 0.
    engine = create_db_engine(make_settings(sqlite_url))
    context = Measurements(
        engine, InProcessBus(), queue_limit=10, batch_rows=100, max_quantities_per_device=8,
        rollup_flush_seconds=0,
    )  # fmt: skip
    await context.start(rebuild_pending=False)
    try:
        (device,) = register(engine, "greenhouse")
        await context.record(device, [Reading(T0, {"temperature": 20.0})], received_at=T0)
        assert buckets(engine, RollupMinute) == {T0: (20.0, 20.0, 20.0, 1)}
        with engine.connect() as conn:
            assert conn.execute(sa.select(RollupPending.minute)).all() == []
        cpu = time.process_time()
        await anyio.sleep(0.5)
        assert time.process_time() - cpu < 0.25, "the idle writer spins"
    finally:
        await context.stop()
        engine.dispose()


def test_buckets_are_aligned_to_the_epoch() -> None:
    moment = datetime(2026, 11, 21, 10, 17, 42, 123456, tzinfo=UTC)
    assert floor_time(moment, timedelta(minutes=1)) == datetime(2026, 11, 21, 10, 17, tzinfo=UTC)
    assert floor_time(moment, timedelta(hours=1)) == datetime(2026, 11, 21, 10, tzinfo=UTC)
