"""A group's rows, inserted once each, and each request credited with its own counts.

    requests ──> build_rows: one row per value; a key twice in the group is a duplicate
             ──> insert_new (SQLite) or insert_returning (PostgreSQL): the keys already
                 stored come back, and only the others are inserted
             ──> credit: stored and duplicate counts per request, one event per reading

Why driver-level SQL here: these functions handle every row the server receives.
SQLAlchemy Core's executemany with RETURNING cost about 30 µs per row on a Raspberry-
class CPU budget, a prebuilt multi-row VALUES statement about 6 µs (see
docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from app.telemetry.events import MeasurementInserted
from app.telemetry.readings import Reading

if TYPE_CHECKING:  # storage.py imports this module
    from app.telemetry.writing.transaction import WriteOutcome, WriteRequest

# Rows per INSERT statement: under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
CHUNK_ROWS = 1000

Row = tuple[int, Any, float]  # (series id, encoded measured_at, value)
Key = tuple[int, Any]  # (series id, encoded measured_at)


@dataclass(slots=True)
class Rows:
    """The group's rows to insert, with the reading and quantity of each, in parallel lists.

    Rows are appended request by request: request i owns rows[starts[i]:starts[i + 1]].
    """

    values: list[Row] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    quantities: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)


def driver_cursor(conn: Connection) -> Any:
    """The sqlite3 cursor under `conn`, for the statements of the hot path.

    Inside the transaction SQLAlchemy opened, it skips SQLAlchemy's per-statement
    bookkeeping (tens of microseconds each); errors are translated by the callers'
    translate_storage_errors like any other.
    """
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver.cursor()


@lru_cache(maxsize=64)
def _insert_sql(rows: int, placeholder: str, *, returning: bool) -> str:
    values = ",".join([f"({placeholder},{placeholder},{placeholder})"] * rows)
    # Only placeholders are formatted in; every value travels as a bound parameter.
    sql = f"INSERT INTO measurements (series_id, measured_at, value) VALUES {values}"  # noqa: S608
    if returning:
        sql += " ON CONFLICT DO NOTHING RETURNING series_id, measured_at"
    return sql


@lru_cache(maxsize=64)
def _existing_sql(rows: int, placeholder: str) -> str:
    # A join from a VALUES list, not `(a, b) IN (VALUES ...)`: SQLite plans the IN form as
    # a scan of the whole table and the join as one primary-key seek per key.
    keys = ",".join([f"({placeholder},{placeholder})"] * rows)
    head = f"WITH k(series_id, measured_at) AS (VALUES {keys}) "
    return (
        head + "SELECT m.series_id, m.measured_at FROM k JOIN measurements m "  # noqa: S608
        "ON m.series_id = k.series_id AND m.measured_at = k.measured_at"
    )


def build_rows(
    requests: Sequence[WriteRequest],
    outcomes: list[WriteOutcome],
    series_ids: dict[tuple[int, str], int],
    encode: Callable[[datetime], Any],
) -> Rows:
    """Rows to insert, request by request; an in-group repeat counts as a duplicate."""
    rows = Rows()
    seen: set[Key] = set()
    for request, outcome in zip(requests, outcomes, strict=True):
        rows.starts.append(len(rows.values))
        if outcome.error is not None:
            continue
        device_id = request.device.id
        for reading in request.readings:
            at = encode(reading.measured_at)
            for quantity, value in reading.values.items():
                key = (series_ids[(device_id, quantity)], at)
                if key in seen:
                    outcome.duplicates += 1
                    continue
                seen.add(key)
                rows.values.append((key[0], at, value))
                rows.readings.append(reading)
                rows.quantities.append(quantity)
    rows.starts.append(len(rows.values))
    return rows


def insert_returning(conn: Connection, rows: list[Row], placeholder: str) -> set[Key]:
    """Let the database skip conflicts and name what it stored (safe with many writers).

    Returns the keys that were already stored.
    """
    inserted: set[Key] = set()
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        params = tuple(x for row in chunk for x in row)
        sql = _insert_sql(len(chunk), placeholder, returning=True)
        inserted.update((row[0], row[1]) for row in conn.exec_driver_sql(sql, params))
    if len(inserted) == len(rows):
        return set()
    return {(row[0], row[1]) for row in rows} - inserted


def insert_new(conn: Connection, rows: list[Row]) -> set[Key]:
    """SQLite: look up the keys already stored (returned), then insert only the others.

    Correct because the transaction began IMMEDIATE: no other writer, in this process or
    another, can add a key between the lookup and the insert. Cheaper than RETURNING,
    which hands back every new row one step at a time.
    """
    cursor = driver_cursor(conn)
    present: set[Key] = set()
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        params = [x for row in chunk for x in row[:2]]
        cursor.execute(_existing_sql(len(chunk), "?"), params)
        present.update(cursor.fetchall())
    new_rows = [row for row in rows if (row[0], row[1]) not in present] if present else rows
    for start in range(0, len(new_rows), CHUNK_ROWS):
        chunk = new_rows[start : start + CHUNK_ROWS]
        cursor.execute(
            _insert_sql(len(chunk), "?", returning=False), [x for row in chunk for x in row]
        )
    return present


def credit(
    requests: Sequence[WriteRequest],
    outcomes: list[WriteOutcome],
    rows: Rows,
    present: set[Key],
) -> None:
    """Count stored and duplicate values per request and build one event per reading.

    The common case (nothing was stored before, no repeats in the group) reuses each
    reading's own values for its event instead of rebuilding them value by value.
    """
    for index, (request, outcome) in enumerate(zip(requests, outcomes, strict=True)):
        if outcome.error is not None:
            continue
        start, end = rows.starts[index], rows.starts[index + 1]
        device = request.device
        if not present and not outcome.duplicates:
            outcome.stored = end - start
            outcome.events = [
                MeasurementInserted(device.id, device.name, r.measured_at, r.values)
                for r in request.readings
            ]
            continue
        stored: dict[int, tuple[Reading, dict[str, float]]] = {}
        for position in range(start, end):
            series_id, at, value = rows.values[position]
            if (series_id, at) in present:
                outcome.duplicates += 1
                continue
            outcome.stored += 1
            reading = rows.readings[position]
            entry = stored.setdefault(id(reading), (reading, {}))
            entry[1][rows.quantities[position]] = value
        outcome.events = [
            MeasurementInserted(device.id, device.name, reading.measured_at, values)
            for reading, values in stored.values()
        ]
