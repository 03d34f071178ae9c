"""Retention: raw readings go after their time, rollups much later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.db import create_db_engine
from app.telemetry import retention
from app.telemetry.models import Measurement, RollupHour, RollupMinute
from app.telemetry.readings import Reading
from app.telemetry.retention import Retention, RetentionPolicy
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.transaction import GroupTransaction
from tests.factories import FakeClock, make_settings, register

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def count(engine: sa.Engine, table: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_old_data_is_deleted_in_small_transactions(database_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(retention, "CHUNK", 100)  # many chunks, as a big table would need
    engine = create_db_engine(make_settings(database_url))
    (device,) = register(engine, "greenhouse")
    store = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    days = [40, 35, 31, 29, 10, 1]
    readings = [
        Reading(NOW - timedelta(days=d, minutes=m), {"temperature": float(d)})
        for d in days
        for m in range(250)
    ]
    store.write([WriteRequest(device, readings, received_at=NOW)])
    store.flush_rollups()
    store.close()
    policy = RetentionPolicy(
        raw=timedelta(days=30), minutes=timedelta(days=20), hours=timedelta(days=36)
    )
    pruned = Retention(engine, FakeClock(NOW), policy).prune()
    assert pruned.raw == 3 * 250
    with engine.connect() as conn:
        oldest = conn.execute(sa.select(sa.func.min(Measurement.measured_at))).scalar_one()
        oldest_minute = conn.execute(sa.select(sa.func.min(RollupMinute.bucket))).scalar_one()
        oldest_hour = conn.execute(sa.select(sa.func.min(RollupHour.bucket))).scalar_one()
    assert oldest >= NOW - timedelta(days=30)
    assert oldest_minute >= NOW - timedelta(days=20)
    assert NOW - timedelta(days=36) <= oldest_hour < NOW - timedelta(days=30)
    assert count(engine, Measurement) == 3 * 250
    again = Retention(engine, FakeClock(NOW), policy).prune()
    assert (again.raw, again.minutes, again.hours) == (0, 0, 0)
    engine.dispose()
