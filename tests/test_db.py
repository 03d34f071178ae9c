"""Engines: SQLite pragmas on every connection, UTC timestamps, clear storage errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.db import (
    StorageUnavailable,
    Timestamp,
    create_db_engine,
    decode_time,
    encode_time,
    microseconds,
    translate_storage_errors,
)
from tests.factories import make_settings


def test_every_sqlite_connection_gets_the_pragmas(sqlite_url: str) -> None:
    engine = create_db_engine(make_settings(sqlite_url, sqlite_busy_timeout_ms=1234))
    try:
        connections = [engine.connect() for _ in range(3)]  # three distinct pool connections
        for conn in connections:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        for conn in connections:
            conn.close()
    finally:
        engine.dispose()


def test_the_database_directory_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'dir' / 'telemetry.db'}"
    engine = create_db_engine(make_settings(url))
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
    assert (tmp_path / "new" / "dir" / "telemetry.db").exists()


def test_timestamps_keep_microseconds_and_come_back_in_utc(database_url: str) -> None:
    engine = create_db_engine(make_settings(database_url))
    table = sa.Table("t_times", sa.MetaData(), sa.Column("at", Timestamp()))
    moment = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(table.insert(), [{"at": moment}])
            stored = conn.execute(sa.select(table.c.at)).scalar_one()
            table.drop(conn)
    finally:
        engine.dispose()
    assert stored == moment
    assert stored.utcoffset() == timedelta(0)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Timestamp().process_bind_param(datetime(2026, 1, 1), sa.create_engine("sqlite://").dialect)


def test_a_locked_sqlite_database_is_unavailable_not_an_error(sqlite_url: str) -> None:
    path = sqlite_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    engine = create_db_engine(make_settings(sqlite_url, sqlite_busy_timeout_ms=50))
    try:
        with (
            pytest.raises(StorageUnavailable) as caught,
            translate_storage_errors(),
            engine.begin() as conn,
        ):
            conn.exec_driver_sql("DELETE FROM devices")
        assert caught.value.retry_after > 0
        assert "busy" in caught.value.reason
    finally:
        blocker.rollback()
        blocker.close()
        engine.dispose()


def test_a_missing_schema_says_to_migrate(tmp_path: Path) -> None:
    engine = create_db_engine(make_settings(f"sqlite:///{tmp_path / 'empty.db'}"))
    try:
        with (
            pytest.raises(StorageUnavailable, match="telemetry migrate"),
            translate_storage_errors(),
            engine.connect() as conn,
        ):
            conn.exec_driver_sql("SELECT * FROM devices")
    finally:
        engine.dispose()


def test_timestamps_are_stored_as_integers_in_sqlite(sqlite_url: str) -> None:
    engine = create_db_engine(make_settings(sqlite_url))
    table = sa.Table("t_raw", sa.MetaData(), sa.Column("at", Timestamp()))
    try:
        with engine.begin() as conn:
            table.create(conn)
            conn.execute(table.insert(), [{"at": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)}])
            assert conn.exec_driver_sql("SELECT at FROM t_raw").scalar() == 1_000_000
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused_with_a_reason(url: str) -> None:
    with pytest.raises(ValueError, match="give TELEMETRY_DATABASE_URL a file"):
        create_db_engine(make_settings(url))


def test_the_time_encoding_is_whole_microseconds_since_the_epoch() -> None:
    moment = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
    encoded = encode_time(moment)
    assert encoded == 1_795_255_200_123_456
    assert decode_time(encoded) == moment
    assert microseconds(timedelta(minutes=1)) == 60_000_000
    # Timestamp stores exactly what encode_time says.
    dialect = sa.create_engine("sqlite://").dialect
    assert Timestamp().process_bind_param(moment, dialect) == encoded
