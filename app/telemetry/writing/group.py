"""What a group is made of: each request's readings, and what the group did for each.

The modules of the write path pass these between them in one direction: the writer
queues WriteRequests, the transaction and its helpers (series, rows, latest) return
values, and the transaction assembles one WriteOutcome per request from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.telemetry.devices import DeviceRef
from app.telemetry.events import MeasurementInserted
from app.telemetry.readings import Reading


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """The readings of one HTTP request, validated, waiting to be stored."""

    device: DeviceRef
    readings: Sequence[Reading]
    received_at: datetime

    @property
    def row_count(self) -> int:
        """How many measurement rows the request can produce."""
        return sum(len(r.values) for r in self.readings)


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What the transaction did for one request: its counts and events, or its error."""

    stored: int = 0
    duplicates: int = 0
    events: list[MeasurementInserted] = field(default_factory=list)
    error: Exception | None = None
