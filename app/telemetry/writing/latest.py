"""What listings show without reading the measurements: latest values and last-seen times.

Each series row keeps its newest value, and each device row the time the server last
received something from it. Both move forward only, so late and backfilled readings
never replace newer ones. Both are small tables whose pages stay in memory; last-seen
times are written at most once a second of received time per device, so a device
posting many times a second costs one UPDATE, not many.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, or_, update

from app.telemetry.models import Device
from app.telemetry.writing.dialect import LatestRow, WriteDialect
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.rows import Key, Rows

_devices: Table = Device.__table__  # type: ignore[assignment]

# Readers see last-seen times at one-second resolution.
LAST_SEEN_RESOLUTION = timedelta(seconds=1)

_ADVANCE_LAST_SEEN = (
    update(_devices)
    .where(
        _devices.c.id == bindparam("did"),
        or_(_devices.c.last_seen_at.is_(None), _devices.c.last_seen_at < bindparam("seen")),
    )
    .values(last_seen_at=bindparam("seen"))
)


def advance_latest(conn: Connection, dialect: WriteDialect, rows: Rows, present: set[Key]) -> None:
    """Move each touched series' latest value to its newest new row, never backward."""
    latest: dict[int, tuple[Any, int]] = {}
    for position, (series_id, at, _) in enumerate(rows.values):
        current = latest.get(series_id)
        if (current is None or current[0] < at) and (not present or (series_id, at) not in present):
            latest[series_id] = (at, position)
    if latest:
        changes: list[LatestRow] = [
            (rows.values[position][2], at, series_id)
            for series_id, (at, position) in latest.items()
        ]
        dialect.advance_latest(conn, changes)


class LastSeen:
    """Devices' last-seen times, written at most once per LAST_SEEN_RESOLUTION each."""

    def __init__(self) -> None:
        # device id -> the received time last written; committed transactions only.
        self._written: dict[int, datetime] = {}

    def stage(
        self,
        conn: Connection,
        requests: Sequence[WriteRequest],
        refusals: Mapping[int, Exception],
    ) -> dict[int, datetime]:
        """Move the group's devices' last-seen times forward; returns what it wrote."""
        written = self._written
        seen: dict[int, datetime] = {}
        for index, request in enumerate(requests):
            if index in refusals:
                continue
            device_id, at = request.device.id, request.received_at
            before = written.get(device_id)
            if before is not None and at - before < LAST_SEEN_RESOLUTION:
                continue
            if device_id not in seen or seen[device_id] < at:
                seen[device_id] = at
        if seen:
            conn.execute(_ADVANCE_LAST_SEEN, [{"did": d, "seen": t} for d, t in seen.items()])
        return seen

    def committed(self, seen: Mapping[int, datetime]) -> None:
        """The transaction that staged `seen` committed."""
        self._written.update(seen)
