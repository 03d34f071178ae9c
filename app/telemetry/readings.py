"""Readings as the domain sees them, and the rules a reading's time must follow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Earlier times come from a device whose clock was never set (a Pi without a real-time
# clock boots in 1970); storing them would put points decades off every chart.
EARLIEST_MEASURED_AT = datetime(2000, 1, 1, tzinfo=UTC)
# The reason of a reading older than the raw readings kept: callers may add a hint.
OLDER_THAN_RETENTION = "older than the raw retention"


@dataclass(frozen=True, slots=True)
class Reading:
    """Values of several quantities measured by one device at one time.

    Build one only from values that passed quantities.check_value and a time that
    passed check_measured_at; treat `values` as read-only (events share it).
    """

    measured_at: datetime
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What happened to the values of one request: stored, or already present."""

    stored: int
    duplicates: int


class MeasuredAtError(ValueError):
    """A measured_at that cannot be accepted; the message says why, `reason` in a few words."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_measured_at(
    value: datetime, now: datetime, future_tolerance: timedelta, oldest: datetime | None = None
) -> datetime:
    """Return `value` in UTC, or raise MeasuredAtError if it is naive or implausible.

    `oldest` is the start of the raw readings the server keeps: an older reading could
    not be told from a resend once its raw row was pruned, and would be counted twice.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise MeasuredAtError(
            "measured_at must carry a time zone, for example 2026-11-21T10:00:00Z",
            "no time zone",
        )
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # year 1 at +01:00, year 9999 at -01:00
        raise MeasuredAtError(
            f"measured_at {value.isoformat()} is out of range", "out of range"
        ) from None
    if value > now + future_tolerance:
        raise MeasuredAtError(
            f"measured_at {value.isoformat()} is more than "
            f"{int(future_tolerance.total_seconds())} s ahead of the server clock "
            f"({now.isoformat(timespec='seconds')}); check the device clock",
            "ahead of the server clock",
        )
    if value < EARLIEST_MEASURED_AT:
        raise MeasuredAtError(
            f"measured_at {value.isoformat()} is before 2000; the device clock is not set",
            "before 2000",
        )
    if oldest is not None and value < oldest:
        days = (now - oldest).days
        raise MeasuredAtError(
            f"measured_at {value.isoformat()} is more than {days} days old: this server keeps "
            f"raw readings {days} days (TELEMETRY_RAW_RETENTION_DAYS), and an older one "
            "could not be told from a resend",
            OLDER_THAN_RETENTION,
        )
    return value
