"""Everything a device owns in the database: counted, and deleted together.

A device's rows are its series, their measurements and their minute and hour rollups.
They are deleted explicitly, children first, inside the caller's transaction: SQLite
enforces ON DELETE CASCADE only with foreign keys on, and a database opened by another
tool may have them off. The measurements table is keyed by time first, so counting or
deleting one device's rows reads the whole table: an admin's rare act, not a hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ScalarSelect, delete, distinct, func, select
from sqlalchemy.orm import Session

from app.telemetry.models import Device, Measurement, RollupHour, RollupMinute, Series


@dataclass(frozen=True, slots=True)
class DeviceDeleted:
    """A device that was deleted, with how much of its data went with it."""

    id: int
    name: str
    readings: int  # distinct measured_at times
    values: int  # rows of the measurements table


def _series_of(device_id: int) -> ScalarSelect[int]:
    return select(Series.id).where(Series.device_id == device_id).scalar_subquery()


def count_readings(session: Session, device_id: int) -> tuple[int, int]:
    """The device's stored readings (distinct times) and values."""
    query = select(func.count(distinct(Measurement.measured_at)), func.count()).where(
        Measurement.series_id.in_(_series_of(device_id))
    )
    readings, values = session.execute(query).one()
    return int(readings or 0), int(values or 0)


def delete_device_rows(session: Session, device: Device) -> DeviceDeleted:
    """Delete the device and everything it owns, in the caller's transaction."""
    readings, values = count_readings(session, device.id)
    series = _series_of(device.id)
    for table in (Measurement, RollupMinute, RollupHour):
        session.execute(delete(table).where(table.series_id.in_(series)))
    session.execute(delete(Series).where(Series.device_id == device.id))
    session.execute(delete(Device).where(Device.id == device.id))
    return DeviceDeleted(device.id, device.name, readings, values)
