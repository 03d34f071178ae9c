"""What the live views show of each device, kept in memory and folded from events.

A device's status comes from its own rhythm: the usual interval between its readings
(the median of the last few gaps between their measured_at) sets when it is late (3
intervals of silence) and offline (10). Silence is the age of its newest reading (its
measured_at), and never less than the time since the server last received something
from it: a backlog of old readings arriving now updates the history but does not make
a silent device look live. A device whose clock runs a little behind (up to
CLOCK_LAG_TOLERATED) is not held against it: the least delay between its readings'
measured_at and their arrival is taken as its clock's lag. A value older than the late
threshold is stale, and its tile says how old it is. The sparkline
of each quantity is the mean of each of the last 60 minutes, missing minutes left out.
"""

from __future__ import annotations

import functools
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from app.telemetry import KNOWN_QUANTITIES, MeasurementInserted, floor_time, precision_of

LATE_AFTER = 3  # intervals of silence
OFFLINE_AFTER = 10
ASSUMED_INTERVAL = timedelta(seconds=60)  # until a device has shown its own rhythm
GAPS_KEPT = 12
LAGS_KEPT = 12
# As far behind as a device's clock may run without its readings looking old: the
# server accepts readings as far ahead of its own clock.
CLOCK_LAG_TOLERATED = timedelta(minutes=5)
SPARK_MINUTES = 60
MINUTE = timedelta(minutes=1)


class Status(StrEnum):
    """How recently a device was heard from, relative to its own rhythm."""

    LIVE = "live"
    LATE = "late"
    OFFLINE = "offline"
    NEVER = "never"


# One minute of one quantity: [sum, count, min, max], as the minute rollups hold it.
Minute = list[float]


@dataclass(slots=True)
class QuantityView:
    """The latest value of one quantity and its last hour, minute by minute."""

    name: str
    value: float | None = None
    measured_at: datetime | None = None
    minutes: dict[datetime, Minute] = field(default_factory=dict)  # start -> aggregate

    @property
    def unit(self) -> str | None:
        """The unit, for known quantities."""
        known = KNOWN_QUANTITIES.get(self.name)
        return known.unit if known else None

    @property
    def precision(self) -> int:
        """Decimals to show."""
        return precision_of(self.name)

    def add(self, at: datetime, value: float, now: datetime) -> None:
        """Fold one stored value in, received at `now`."""
        if self.measured_at is None or at >= self.measured_at:
            self.value, self.measured_at = value, at
        minute = floor_time(at, MINUTE)
        first = first_minute(now)
        if minute < first:
            return  # a backfilled reading older than the sparkline's hour
        aggregate = self.minutes.get(minute)
        if aggregate is None:
            self.minutes[minute] = [value, 1, value, value]
        else:
            aggregate[0] += value
            aggregate[1] += 1
            aggregate[2] = min(aggregate[2], value)
            aggregate[3] = max(aggregate[3], value)
        if len(self.minutes) > 2 * SPARK_MINUTES:
            # Nobody may be watching (no render prunes them): keep it bounded anyway.
            self._forget_before(first)

    def _forget_before(self, first: datetime) -> None:
        for minute in [m for m in self.minutes if m < first]:
            del self.minutes[minute]

    def sparkline(self, now: datetime) -> list[float | None]:
        """Means of the last SPARK_MINUTES minutes, oldest first; None where there was none."""
        # One lookup per minute held, in a table of the hour's minutes shared by every
        # quantity: a cold overview of 500 devices draws 1,500 of these at once.
        first = first_minute(now)
        positions = minute_positions(first)
        points: list[float | None] = [None] * SPARK_MINUTES
        old = []
        for minute, aggregate in self.minutes.items():
            index = positions.get(minute)
            if index is not None:
                points[index] = aggregate[0] / aggregate[1]
            elif minute < first:
                old.append(minute)
        for minute in old:
            del self.minutes[minute]
        return points


@functools.lru_cache(maxsize=4)
def minute_positions(first: datetime) -> dict[datetime, int]:
    """Each minute of the sparkline starting at `first`, with its position."""
    return {first + MINUTE * index: index for index in range(SPARK_MINUTES)}


def first_minute(now: datetime) -> datetime:
    """The oldest minute a view keeps at `now`: SPARK_MINUTES minutes up to now's."""
    return floor_time(now, MINUTE) - MINUTE * (SPARK_MINUTES - 1)


def rhythm(minutes: Sequence[tuple[datetime, int]]) -> list[float]:
    """The gaps between a device's last readings (seconds, newest first), as well as the
    per-minute counts of its most recent minutes with data (newest first) can tell.

    n readings in one minute are n - 1 gaps of 60/n s; between two minutes with data
    the gap is the time from one to the other, so a device posting every 5 minutes
    shows gaps of 300 s, not the 60 s a count per minute alone would suggest.
    """
    gaps: list[float] = []
    for index, (at, count) in enumerate(minutes):
        gaps.extend([60 / count] * min(count - 1, GAPS_KEPT - len(gaps)))
        if index + 1 < len(minutes):
            before, earlier_count = minutes[index + 1]
            apart = (at - before).total_seconds()
            gaps.append(60 / max(count, earlier_count) if apart <= 60 else apart)
        if len(gaps) >= GAPS_KEPT:
            break
    return gaps[:GAPS_KEPT]


@dataclass(slots=True)
class DeviceView:
    """One device as the dashboard shows it."""

    id: int
    name: str
    quantities: dict[str, QuantityView] = field(default_factory=dict)
    last_at: datetime | None = None  # newest measured_at
    heard_at: datetime | None = None  # when the server last received a reading
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=GAPS_KEPT))
    # Seconds from measured_at to arrival of its last readings that were its newest.
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=LAGS_KEPT))
    status: Status = Status.NEVER

    @property
    def interval(self) -> timedelta:
        """The device's usual interval between readings."""
        if len(self.gaps) < 2:
            return ASSUMED_INTERVAL
        return timedelta(seconds=max(statistics.median(self.gaps), 0.1))

    def apply(self, event: MeasurementInserted, received: datetime) -> None:
        """Fold in newly stored values, received by the server at `received`."""
        self.heard_at = received if self.heard_at is None else max(self.heard_at, received)
        at = event.measured_at
        if self.last_at is not None and at > self.last_at:
            self.gaps.append((at - self.last_at).total_seconds())
        if self.last_at is None or at > self.last_at:
            self.last_at = at
            self.lags.append((received - at).total_seconds())
        for name, value in event.values.items():
            view = self.quantities.get(name)
            if view is None:
                view = self.quantities[name] = QuantityView(name)
            view.add(at, value, received)

    def restore(
        self,
        latest: Mapping[str, tuple[float, datetime]],
        minutes: Mapping[str, Mapping[datetime, tuple[float, int, float, float]]],
        heard_at: datetime | None,
        gaps: Sequence[float] = (),
    ) -> None:
        """Start from stored state: latest values, the last hour's minutes (sum, count,
        min, max), last seen, and the gaps between its last readings (newest first, see
        `rhythm`)."""
        self.heard_at = heard_at
        for name, (value, at) in sorted(latest.items()):
            view = self.quantities[name] = QuantityView(name, value, at)
            view.minutes.update((m, list(a)) for m, a in minutes.get(name, {}).items())
            if self.last_at is None or at > self.last_at:
                self.last_at = at
        self.gaps.extend(reversed(gaps[:GAPS_KEPT]))

    @property
    def clock_lag(self) -> timedelta:
        """How far behind the server's its clock runs, as far as tolerated: the least
        delay of its recent newest readings (a backlog's delays are not the least)."""
        if not self.lags:
            return timedelta(0)
        return min(max(timedelta(seconds=min(self.lags)), timedelta(0)), CLOCK_LAG_TOLERATED)

    @property
    def fresh_at(self) -> datetime | None:
        """When it was last known to be measuring: its newest reading (by the server's
        clock), or the last time the server heard from it if that was earlier."""
        if self.last_at is None:
            return self.heard_at
        measured = self.last_at + self.clock_lag
        return measured if self.heard_at is None else min(measured, self.heard_at)

    def is_stale(self, at: datetime, now: datetime) -> bool:
        """Whether a value measured `at` (by its clock) is too old to show as current."""
        return now - (at + self.clock_lag) > self.interval * LATE_AFTER

    def status_at(self, now: datetime) -> Status:
        """live, late or offline, from the age of its newest reading."""
        fresh_at = self.fresh_at
        if fresh_at is None:
            return Status.NEVER
        silence = now - fresh_at
        if silence > self.interval * OFFLINE_AFTER:
            return Status.OFFLINE
        if silence > self.interval * LATE_AFTER:
            return Status.LATE
        return Status.LIVE
