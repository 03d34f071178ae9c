"""The write path's dialects: the same results from SQLite and PostgreSQL, each its own way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from app.db import writer_engine
from app.telemetry import DeviceRef, floor_time
from app.telemetry.models import RollupMinute, Series
from app.telemetry.writing.dialect import WriteDialect
from app.telemetry.writing.transaction import write_dialect
from tests.factories import register

MOMENT = datetime(2026, 11, 21, 10, 17, 42, 123456, tzinfo=UTC)


@pytest.fixture
def dialect(engine: Engine) -> WriteDialect:
    return write_dialect(engine, busy_timeout_ms=1000, durable=False)


@pytest.fixture
def device(engine: Engine) -> DeviceRef:
    (device,) = register(engine, "greenhouse")
    return device


@pytest.fixture
def conn(engine: Engine, dialect: WriteDialect, device: DeviceRef) -> Iterator[Connection]:
    """A writer's connection inside an open transaction, rolled back afterwards."""
    with writer_engine(engine).connect() as conn:
        dialect.open(conn)
        transaction = dialect.begin(conn, wait=True)
        assert transaction is not None
        yield conn
        transaction.rollback()


def series_id(conn: Connection, dialect: WriteDialect, device_id: int, quantity: str) -> int:
    table: sa.Table = Series.__table__  # type: ignore[assignment]
    conn.execute(dialect.insert_ignoring(table), [{"device_id": device_id, "quantity": quantity}])
    conn.execute(dialect.insert_ignoring(table), [{"device_id": device_id, "quantity": quantity}])
    return int(
        conn.execute(
            sa.select(Series.id).where(Series.device_id == device_id, Series.quantity == quantity)
        ).scalar_one()
    )


def test_buckets_of_encoded_times_are_the_buckets_of_the_times(dialect: WriteDialect) -> None:
    at = dialect.encode_time(MOMENT)
    assert dialect.bucket_starts([dialect.minute_of(at), dialect.hour_of(at)]) == [
        floor_time(MOMENT, timedelta(minutes=1)),
        floor_time(MOMENT, timedelta(hours=1)),
    ]


def test_only_new_keys_are_inserted_and_the_others_are_named(
    device: DeviceRef, dialect: WriteDialect, conn: Connection
) -> None:
    sid = series_id(conn, dialect, device.id, "temperature")
    first, second = dialect.encode_time(MOMENT), dialect.encode_time(MOMENT + timedelta(seconds=1))
    assert dialect.insert_rows(conn, [(sid, first, 1.0)]) == set()
    assert dialect.insert_rows(conn, [(sid, first, 9.0), (sid, second, 2.0)]) == {(sid, first)}
    stored = conn.execute(sa.text("SELECT value FROM measurements ORDER BY measured_at"))
    assert [row[0] for row in stored] == [1.0, 2.0]


def test_the_latest_value_never_moves_backward(
    device: DeviceRef, dialect: WriteDialect, conn: Connection
) -> None:
    sid = series_id(conn, dialect, device.id, "temperature")
    later, earlier = MOMENT, MOMENT - timedelta(hours=1)
    dialect.advance_latest(conn, [(2.0, dialect.encode_time(later), sid)])
    dialect.advance_latest(conn, [(1.0, dialect.encode_time(earlier), sid)])
    row = conn.execute(sa.select(Series.latest_value, Series.latest_at)).one()
    assert (row.latest_value, row.latest_at) == (2.0, later)


def test_rollup_rows_add_into_their_buckets(
    device: DeviceRef, dialect: WriteDialect, conn: Connection
) -> None:
    sid = series_id(conn, dialect, device.id, "temperature")
    table: sa.Table = RollupMinute.__table__  # type: ignore[assignment]
    bucket = dialect.minute_of(dialect.encode_time(MOMENT))
    dialect.upsert_rollups(conn, table, [(sid, bucket, 10.0, 20.0, 30.0, 2)])
    dialect.upsert_rollups(conn, table, [(sid, bucket, 5.0, 15.0, 20.0, 2)])
    row = conn.execute(
        sa.select(
            RollupMinute.bucket, RollupMinute.min, RollupMinute.max, RollupMinute.sum
        ).add_columns(RollupMinute.count)
    ).one()
    assert tuple(row) == (floor_time(MOMENT, timedelta(minutes=1)), 5.0, 20.0, 50.0, 4)
