"""Series ids for a group: remembered from committed transactions, created when missing.

A *series* is one (device, quantity) pair, stored once in the `series` table, so that
each measurement row holds only (series id, measured_at, value). A device may have at
most `max_quantities_per_device` series: a request that would create more is refused
on its own (QuantityLimitExceeded) and creates nothing, while the rest of its group
goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import Connection, Insert, Table, select

from app.telemetry.models import Series
from app.telemetry.quantities import QuantityError
from app.telemetry.writing.dialect import WriteDialect
from app.telemetry.writing.group import WriteRequest

_series: Table = Series.__table__  # type: ignore[assignment]

SeriesIds = dict[tuple[int, str], int]  # (device id, quantity) -> series id


class QuantityLimitExceeded(QuantityError):
    """A device would exceed its number of quantities; the message names the new ones."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "too many quantities for one device")


class SeriesRegistry:
    """Finds and creates the series of a group's values, within its transaction."""

    def __init__(self, dialect: WriteDialect, *, max_quantities_per_device: int) -> None:
        self._max_quantities = max_quantities_per_device
        self._insert: Insert = dialect.insert_ignoring(_series)
        # Filled from committed data only (see `committed`), so a rolled back transaction
        # cannot leave ids behind that do not exist.
        self._known: SeriesIds = {}

    def resolve(
        self, conn: Connection, requests: Sequence[WriteRequest]
    ) -> tuple[SeriesIds, dict[int, QuantityLimitExceeded]]:
        """Series ids of every (device, quantity) in the group, creating the missing ones.

        Returns the ids, and the refusal of each request (by index) that would take its
        device past the quantity limit.
        """
        known_ids = self._known
        if all(
            (request.device.id, quantity) in known_ids
            for request in requests
            for reading in request.readings
            for quantity in reading.values
        ):
            return known_ids, {}
        devices = {request.device.id for request in requests}
        known = self._load(conn, devices)
        counts = Counter(device_id for device_id, _ in known)
        creating: set[tuple[int, str]] = set()
        refusals: dict[int, QuantityLimitExceeded] = {}
        for index, request in enumerate(requests):
            device_id = request.device.id
            new = (
                {(device_id, q) for reading in request.readings for q in reading.values}
                - known.keys()
                - creating
            )
            if not new:
                continue
            if counts[device_id] + len(new) > self._max_quantities:
                names = ", ".join(sorted(q for _, q in new))
                refusals[index] = QuantityLimitExceeded(
                    f"device {request.device.name!r} has {counts[device_id]} quantities and "
                    f"may have at most {self._max_quantities}; refused new quantities: {names}"
                )
                continue
            counts[device_id] += len(new)
            creating |= new
        if creating:
            conn.execute(
                self._insert, [{"device_id": d, "quantity": q} for d, q in sorted(creating)]
            )
            known = self._load(conn, devices)
        return {**known_ids, **known}, refusals

    def committed(self, ids: SeriesIds) -> None:
        """The transaction that resolved `ids` committed: remember them."""
        self._known = ids

    def forget(self) -> None:
        """Forget every id: series were deleted (they are loaded again when needed)."""
        self._known = {}

    def _load(self, conn: Connection, device_ids: set[int]) -> SeriesIds:
        query = select(_series.c.id, _series.c.device_id, _series.c.quantity).where(
            _series.c.device_id.in_(sorted(device_ids))
        )
        return {(row.device_id, row.quantity): row.id for row in conn.execute(query)}
