"""The measurements context: group commit, events after commit only, bounded queue."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import anyio.lowlevel
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from app.bus import InProcessBus
from app.db import create_db_engine
from app.telemetry import DeviceRef, Measurements, Overloaded, Reading, StorageUnavailable
from tests.factories import make_settings, register

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def reading(seconds: int, **values: float) -> Reading:
    return Reading(T0 + timedelta(seconds=seconds), values)


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[Engine]:
    engine = create_db_engine(make_settings(sqlite_url, sqlite_busy_timeout_ms=100))
    yield engine
    engine.dispose()


@pytest.fixture
async def bus() -> InProcessBus:
    return InProcessBus()


@pytest.fixture
async def measurements(engine: Engine, bus: InProcessBus) -> AsyncIterator[Measurements]:
    context = Measurements(
        engine, bus, queue_limit=1000, batch_rows=5000, max_quantities_per_device=64
    )
    await context.start()
    yield context
    await context.stop()


def count_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM measurements")).scalar_one())


async def test_an_event_is_published_after_the_values_are_committed(
    engine: Engine, measurements: Measurements
) -> None:
    (device,) = register(engine, "greenhouse")
    subscription = measurements.subscribe()
    result = await measurements.record(device, [reading(0, temperature=21.5)], received_at=T0)
    assert (result.stored, result.duplicates) == (1, 0)
    with anyio.fail_after(2):
        event = await subscription.get()
    assert (event.device, event.measured_at, dict(event.values)) == (
        "greenhouse",
        T0,
        {"temperature": 21.5},
    )
    assert count_rows(engine) == 1  # committed: another connection sees it


async def test_a_duplicate_publishes_nothing(engine: Engine, measurements: Measurements) -> None:
    (device,) = register(engine, "greenhouse")
    subscription = measurements.subscribe()
    await measurements.record(device, [reading(0, temperature=21.5)], received_at=T0)
    await subscription.get()
    result = await measurements.record(device, [reading(0, temperature=30.0)], received_at=T0)
    assert (result.stored, result.duplicates) == (0, 1)
    # Events come in order: the next one published is the next new reading's.
    await measurements.record(device, [reading(1, temperature=30.0)], received_at=T0)
    with anyio.fail_after(2):
        event = await subscription.get()
    assert event.measured_at == T0 + timedelta(seconds=1)


async def test_a_write_the_database_refuses_publishes_nothing_and_stores_nothing(
    engine: Engine, measurements: Measurements, sqlite_url: str
) -> None:
    (device,) = register(engine, "greenhouse")
    subscription = measurements.subscribe()
    blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageUnavailable, match="busy"):
            await measurements.record(device, [reading(0, temperature=99.0)], received_at=T0)
    finally:
        blocker.rollback()
        blocker.close()
    assert count_rows(engine) == 0
    # And the writer recovers once the lock is gone.
    result = await measurements.record(device, [reading(0, temperature=21.5)], received_at=T0)
    assert result.stored == 1
    # Events come in order: the first one published is the stored reading's, once.
    with anyio.fail_after(2):
        event = await subscription.get()
    assert dict(event.values) == {"temperature": 21.5}
    assert subscription.pending() == 0


async def test_concurrent_requests_share_transactions_and_get_their_own_counts(
    engine: Engine, measurements: Measurements
) -> None:
    devices = register(engine, *(f"d{i}" for i in range(10)))
    results: dict[int, tuple[int, int]] = {}

    async def post(i: int) -> None:
        # Every third request resends the reading of the one before it.
        seconds = i - 1 if i % 3 == 0 and i else i
        outcome = await measurements.record(
            devices[0], [reading(seconds, temperature=1.0)], received_at=T0
        )
        results[i] = (outcome.stored, outcome.duplicates)

    async with anyio.create_task_group() as tasks:
        for i in range(200):
            tasks.start_soon(post, i)
    assert sum(stored for stored, _ in results.values()) == count_rows(engine)
    assert sum(s + d for s, d in results.values()) == 200
    assert measurements.stats.commits < 200 / 4  # group commit: many requests per commit
    assert measurements.stats.requests == 200


async def test_one_broken_request_fails_alone(engine: Engine, measurements: Measurements) -> None:
    (device,) = register(engine, "greenhouse")
    ghost = DeviceRef(id=999_999, name="ghost")  # no such row: the foreign key refuses it
    outcomes: dict[str, object] = {}

    async def post(name: str, who: DeviceRef, seconds: int) -> None:
        try:
            outcomes[name] = await measurements.record(
                who, [reading(seconds, temperature=1.0)], received_at=T0
            )
        except StorageUnavailable as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as tasks:
        for i in range(5):
            tasks.start_soon(post, f"ok{i}", device, i)
        tasks.start_soon(post, "ghost", ghost, 0)
    assert isinstance(outcomes.pop("ghost"), StorageUnavailable)
    assert count_rows(engine) == 5


async def test_a_full_queue_answers_overloaded(engine: Engine, bus: InProcessBus) -> None:
    (device,) = register(engine, "greenhouse")
    context = Measurements(engine, bus, queue_limit=2, batch_rows=1, max_quantities_per_device=8)
    await context.start()
    errors: list[Overloaded] = []

    async def post(i: int) -> None:
        try:
            await context.record(device, [reading(i, temperature=1.0)], received_at=T0)
        except Overloaded as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tasks:
        for i in range(20):
            tasks.start_soon(post, i)
    await context.stop()
    assert errors, "some requests should have been refused"
    assert all(e.retry_after >= 1 for e in errors)


async def test_stopping_stores_and_answers_everything_already_queued(
    engine: Engine, bus: InProcessBus
) -> None:
    (device,) = register(engine, "greenhouse")
    context = Measurements(engine, bus, queue_limit=1000, batch_rows=5, max_quantities_per_device=8)
    await context.start()
    subscription = context.subscribe(maxsize=1000)
    results = []

    async def post(i: int) -> None:
        results.append(await context.record(device, [reading(i, temperature=1.0)], received_at=T0))

    async with anyio.create_task_group() as tasks:
        for i in range(50):
            tasks.start_soon(post, i)
        await anyio.lowlevel.checkpoint()  # all 50 are queued
        tasks.start_soon(context.stop)
    assert len(results) == 50 and count_rows(engine) == 50
    assert subscription.pending() == 50
    with pytest.raises(Overloaded, match="shutting down"):
        await context.record(device, [reading(99, temperature=1.0)], received_at=T0)


async def test_the_values_waiting_for_the_writer_are_bounded(
    engine: Engine, bus: InProcessBus
) -> None:
    (device,) = register(engine, "greenhouse")
    context = Measurements(
        engine, bus, queue_limit=1000, batch_rows=5000, max_quantities_per_device=8, queue_rows=100
    )
    await context.start()
    try:
        with pytest.raises(Overloaded):
            await context.record(
                device, [reading(i, temperature=1.0) for i in range(101)], received_at=T0
            )
        result = await context.record(
            device, [reading(i, temperature=1.0) for i in range(100)], received_at=T0
        )
        assert result.stored == 100
    finally:
        await context.stop()
