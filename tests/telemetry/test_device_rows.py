"""Renaming and deleting devices: the rows a device owns change or go together, and the
writer goes on storing after a device it knew is deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from app.bus import InProcessBus
from app.db import create_session_factory
from app.telemetry import (
    DeviceError,
    DeviceNameTaken,
    DeviceNotFound,
    Devices,
    History,
    Measurements,
    Reading,
    hash_token,
)
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.transaction import GroupTransaction
from tests.factories import FakeClock

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
TABLES = ("devices", "series", "measurements", "rollups_minute", "rollups_hour")


@pytest.fixture
def devices(engine: Engine) -> Devices:
    return Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=60)


def store(engine: Engine, devices: Devices, name: str, seconds: range, **values: float) -> None:
    """Readings every `seconds`, through the write path, rolled up."""
    tx = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    readings = [Reading(T0 + timedelta(seconds=s), values) for s in seconds]
    tx.write([WriteRequest(devices.ref(name), readings, received_at=T0)])
    tx.flush_rollups()
    tx.close()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def test_a_renamed_device_keeps_its_token_and_its_readings(
    engine: Engine, devices: Devices
) -> None:
    _, token = devices.add("shed")
    store(engine, devices, "shed", range(0, 60, 10), temperature=20.0)
    assert devices.authenticate(hash_token(token)) is not None  # cached under the old name
    renamed = devices.rename("shed", " Garden shed ")
    assert renamed.name == "Garden shed" and "temperature" in renamed.latest
    ref = devices.authenticate(hash_token(token))
    assert ref is not None and ref.name == "Garden shed"
    with pytest.raises(DeviceNotFound):
        devices.get("shed")
    assert devices.reading_count("Garden shed") == 6


def test_a_rename_follows_the_rules_and_uniqueness_of_adding(devices: Devices) -> None:
    devices.add("Greenhouse")
    devices.add("shed")
    with pytest.raises(DeviceNameTaken, match="'Greenhouse' already exists"):
        devices.rename("shed", "GREENHOUSE")
    with pytest.raises(DeviceError, match="cannot contain '/'"):
        devices.rename("shed", "a/b")
    with pytest.raises(DeviceNotFound, match="'barn'"):
        devices.rename("barn", "stable")
    assert devices.rename("Greenhouse", "greenhouse").name == "greenhouse"  # its own name
    assert [d.name for d in devices.list(limit=10)] == ["greenhouse", "shed"]


def test_deleting_a_device_removes_its_series_readings_and_rollups_only(
    engine: Engine, devices: Devices
) -> None:
    _, token = devices.add("doomed")
    devices.add("kept")
    store(engine, devices, "doomed", range(0, 120, 10), temperature=20.0, humidity=40.0)
    store(engine, devices, "kept", range(0, 60, 10), temperature=18.0)
    assert devices.authenticate(hash_token(token)) is not None
    assert devices.reading_count("doomed") == 12
    deleted = devices.delete("doomed")
    assert (deleted.name, deleted.readings, deleted.values) == ("doomed", 12, 24)
    assert counts(engine) == {
        "devices": 1,
        "series": 1,
        "measurements": 6,
        "rollups_minute": 1,
        "rollups_hour": 1,
    }
    assert devices.authenticate(hash_token(token)) is None  # not even from the cache
    history = History(engine, FakeClock(T0 + timedelta(hours=1)), minute_retention=timedelta(90))
    with pytest.raises(DeviceNotFound):
        history.quantities("doomed")
    assert history.quantities("kept") == ["temperature"]
    devices.add("Doomed")  # the name is free again
    assert devices.reading_count("Doomed") == 0


def test_deleting_an_unknown_device_changes_nothing(engine: Engine, devices: Devices) -> None:
    devices.add("kept")
    with pytest.raises(DeviceNotFound):
        devices.delete("ghost")
    assert counts(engine)["devices"] == 1


@pytest.fixture
async def measurements(engine: Engine) -> AsyncIterator[Measurements]:
    # Rollups flushed only when asked: values wait in memory, as between two flushes.
    context = Measurements(
        engine,
        InProcessBus(),
        queue_limit=100,
        batch_rows=5000,
        max_quantities_per_device=8,
        durable=False,
        rollup_flush_seconds=3600,
    )
    await context.start()
    yield context
    await context.stop()


@pytest.mark.anyio
async def test_the_writer_goes_on_after_a_device_it_wrote_for_is_deleted(
    engine: Engine, devices: Devices, measurements: Measurements
) -> None:
    devices.add("doomed")
    doomed = devices.ref("doomed")
    reading = Reading(T0, {"temperature": 20.0})
    await measurements.record(doomed, [reading], received_at=T0)
    # Its value waits for the rollups; the delete folds it in first, then removes it all.
    deleted = await measurements.between_writes(lambda: devices.delete("doomed"))
    assert deleted.values == 1
    devices.add("newcomer")  # SQLite may give it the deleted device's id
    newcomer = devices.ref("newcomer")
    result = await measurements.record(newcomer, [reading], received_at=T0)
    assert result.stored == 1
    await measurements.between_writes(lambda: None)  # flushes the rollups
    assert counts(engine) == {
        "devices": 1,
        "series": 1,
        "measurements": 1,
        "rollups_minute": 1,
        "rollups_hour": 1,
    }
    history = History(engine, FakeClock(T0 + timedelta(hours=1)), minute_retention=timedelta(90))
    assert history.quantities("newcomer") == ["temperature"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
