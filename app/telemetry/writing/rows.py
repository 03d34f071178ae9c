"""A group's rows, and each request's counts and events once the database has spoken.

    requests ──> build_rows: one row per value; a key twice in the group is a repeat
             ──> the dialect's insert_rows (dialect.py): the keys already stored come
                 back, and only the others are inserted
             ──> credit: one WriteOutcome per request, stored and duplicate counts,
                 one event per reading

Plain Python over every row the server receives, so the loops are kept lean; the
statements the rows go into are built here too (insert_sql), as driver-level SQL:
SQLAlchemy Core's executemany with RETURNING cost about 30 µs per row on a Raspberry-
class CPU budget, a prebuilt multi-row VALUES statement about 6 µs (see
docs/benchmarks.md). Nothing here changes its arguments: what a request gets back is
built from the return values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from app.telemetry.events import MeasurementInserted
from app.telemetry.readings import Reading
from app.telemetry.writing.group import WriteOutcome, WriteRequest

# Rows per INSERT statement: under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
CHUNK_ROWS = 1000

Row = tuple[int, Any, float]  # (series id, encoded measured_at, value)
Key = tuple[int, Any]  # (series id, encoded measured_at)


@dataclass(slots=True)
class Rows:
    """The group's rows to insert, with the reading and quantity of each, in parallel lists.

    Rows are appended request by request: request i owns values[starts[i]:starts[i + 1]],
    and repeats[i] of its values repeated a key an earlier request (or reading) of the
    group already holds.
    """

    values: list[Row] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    quantities: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)


@lru_cache(maxsize=64)
def insert_sql(rows: int, placeholder: str, *, returning: bool) -> str:
    """INSERT of `rows` measurement rows, optionally skipping and naming conflicts."""
    values = ",".join([f"({placeholder},{placeholder},{placeholder})"] * rows)
    # Only placeholders are formatted in; every value travels as a bound parameter.
    sql = f"INSERT INTO measurements (series_id, measured_at, value) VALUES {values}"  # noqa: S608
    if returning:
        sql += " ON CONFLICT DO NOTHING RETURNING series_id, measured_at"
    return sql


def build_rows(
    requests: Sequence[WriteRequest],
    refusals: Mapping[int, Exception],
    series_ids: Mapping[tuple[int, str], int],
    encode: Callable[[datetime], Any],
) -> Rows:
    """Rows to insert, request by request (refused ones by index have none).

    A key already in the group counts as a repeat of the request that brings it again,
    so exactly one request is credited with storing it.
    """
    rows = Rows()
    seen: set[Key] = set()
    for index, request in enumerate(requests):
        rows.starts.append(len(rows.values))
        repeats = 0
        if index not in refusals:
            device_id = request.device.id
            for reading in request.readings:
                at = encode(reading.measured_at)
                for quantity, value in reading.values.items():
                    key = (series_ids[(device_id, quantity)], at)
                    if key in seen:
                        repeats += 1
                        continue
                    seen.add(key)
                    rows.values.append((key[0], at, value))
                    rows.readings.append(reading)
                    rows.quantities.append(quantity)
        rows.repeats.append(repeats)
    rows.starts.append(len(rows.values))
    return rows


def credit(
    requests: Sequence[WriteRequest],
    rows: Rows,
    present: set[Key],
    refusals: Mapping[int, Exception],
) -> list[WriteOutcome]:
    """Each request's outcome: its refusal, or its stored and duplicate counts and events.

    `present` holds the keys the database already had. The common case (nothing was
    stored before, no repeats in the group) reuses each reading's own values for its
    event instead of rebuilding them value by value.
    """
    outcomes: list[WriteOutcome] = []
    for index, request in enumerate(requests):
        refusal = refusals.get(index)
        if refusal is not None:
            outcomes.append(WriteOutcome(error=refusal))
            continue
        start, end = rows.starts[index], rows.starts[index + 1]
        repeats = rows.repeats[index]
        device = request.device
        if not present and not repeats:
            events = [
                MeasurementInserted(device.id, device.name, r.measured_at, r.values)
                for r in request.readings
            ]
            outcomes.append(WriteOutcome(stored=end - start, events=events))
            continue
        duplicates = repeats
        stored: dict[int, tuple[Reading, dict[str, float]]] = {}
        for position in range(start, end):
            series_id, at, value = rows.values[position]
            if (series_id, at) in present:
                duplicates += 1
                continue
            reading = rows.readings[position]
            entry = stored.setdefault(id(reading), (reading, {}))
            entry[1][rows.quantities[position]] = value
        count = end - start - (duplicates - repeats)
        events = [
            MeasurementInserted(device.id, device.name, reading.measured_at, values)
            for reading, values in stored.values()
        ]
        outcomes.append(WriteOutcome(stored=count, duplicates=duplicates, events=events))
    return outcomes
