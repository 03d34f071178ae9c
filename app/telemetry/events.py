"""Events the telemetry context publishes on the bus, after the data is committed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class MeasurementInserted:
    """New values of one device at one time, committed and not seen before.

    Published once per stored measurement (a time with its values) on the topic
    `measurement_inserted`. `values` holds only the values that were stored: a quantity
    whose (device, quantity, measured_at) was already present is left out, and a
    measurement whose values were all present publishes nothing. Treat `values` as
    read-only; it is shared by every subscriber.
    """

    topic: ClassVar[str] = "measurement_inserted"

    device_id: int
    device: str
    measured_at: datetime
    values: Mapping[str, float]
