"""`telemetry import` while a server writes to the same database: no rollup counted twice."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.cli import main
from tests.factories import add_device, make_settings
from tests.servers import post, run_live_server

MINUTE_US = 60_000_000  # SQLite stores times as integer microseconds
HOUR_US = 60 * MINUTE_US


def rollups(url: str, table: str) -> dict[tuple[int, int], tuple[int, float]]:
    """(series, bucket) -> (count, sum) of a rollup table."""
    with sa.create_engine(url).connect() as conn:
        rows = conn.execute(sa.text(f"SELECT series_id, bucket, count, sum FROM {table}"))
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def raw_aggregates(url: str, width_us: int) -> dict[tuple[int, int], tuple[int, float]]:
    """(series, bucket) -> (count, sum) computed from the raw readings."""
    query = sa.text(
        "SELECT series_id, measured_at - measured_at % :width AS bucket, count(*), sum(value) "
        "FROM measurements GROUP BY series_id, bucket"
    )
    with sa.create_engine(url).connect() as conn:
        rows = conn.execute(query, {"width": width_us})
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def pending_minutes(url: str) -> set[Any]:
    with sa.create_engine(url).connect() as conn:
        return set(conn.execute(sa.text("SELECT minute FROM rollups_pending")).scalars())


def test_an_import_beside_a_running_server_leaves_its_rollups_exact(
    sqlite_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The server folds its values into the rollups at its flush, a minute away here:
    # until then their minutes are marked pending and the deltas wait in its memory.
    with run_live_server(make_settings(sqlite_url, rollup_flush_seconds=60)) as server:
        token = add_device(server.app, "alpha")
        add_device(server.app, "beta")
        for i in range(20):
            post(server, token, temperature=20.0 + i)
        marked = pending_minutes(sqlite_url)
        assert marked and rollups(sqlite_url, "rollups_minute") == {}

        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        path = tmp_path / "beta.csv"
        path.write_text(f"time,temperature\n{now},5\n")
        with caplog.at_level(logging.WARNING):
            assert main(["import", "beta", str(path)], {"TELEMETRY_DATABASE_URL": sqlite_url}) == 0
        assert "rebuilt the rollups" not in caplog.text
        # The server's marks stay: were it to die now, its start-up would rebuild them.
        assert pending_minutes(sqlite_url) >= marked
    # The server flushed its deltas as it stopped.
    assert rollups(sqlite_url, "rollups_minute") == raw_aggregates(sqlite_url, MINUTE_US)
    assert rollups(sqlite_url, "rollups_hour") == raw_aggregates(sqlite_url, HOUR_US)
    assert pending_minutes(sqlite_url) == set()
