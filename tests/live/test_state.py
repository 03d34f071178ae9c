"""Device views: rhythm, status from silence, sparklines with gaps."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from app.live.state import (
    ASSUMED_INTERVAL,
    CLOCK_LAG_TOLERATED,
    DeviceView,
    QuantityView,
    Status,
    rhythm,
)
from app.telemetry.events import MeasurementInserted

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def event(seconds: float, **values: float) -> MeasurementInserted:
    return MeasurementInserted(1, "pi", T0 + timedelta(seconds=seconds), values)


def test_the_interval_is_learnt_from_the_devices_own_readings() -> None:
    view = DeviceView(1, "pi")
    assert view.interval == ASSUMED_INTERVAL
    for s in (0, 10, 20, 31, 40):
        view.apply(event(s, temperature=20.0), T0 + timedelta(seconds=s))
    assert view.interval == timedelta(seconds=10)


def test_status_follows_silence_in_units_of_the_interval() -> None:
    view = DeviceView(1, "pi")
    assert view.status_at(T0) is Status.NEVER
    for s in (0, 10, 20):
        view.apply(event(s, temperature=20.0), T0 + timedelta(seconds=s))
    assert view.status_at(T0 + timedelta(seconds=45)) is Status.LIVE
    assert view.status_at(T0 + timedelta(seconds=51)) is Status.LATE  # > 3 × 10 s of silence
    assert view.status_at(T0 + timedelta(seconds=121)) is Status.OFFLINE  # > 10 × 10 s


def test_a_backlog_of_old_readings_arriving_now_does_not_make_a_silent_device_live() -> None:
    view = DeviceView(1, "pi")
    # Readings measured 15 days ago, received now: history, not a sign of life.
    for s in (0, 10, 20):
        view.apply(event(s - 15 * 86400, temperature=20.0), T0)
    assert view.status_at(T0 + timedelta(seconds=5)) is Status.OFFLINE
    # Catching up to the present brings it back.
    view.apply(event(0, temperature=21.0), T0 + timedelta(seconds=1))
    assert view.status_at(T0 + timedelta(seconds=5)) is Status.LIVE


def test_silence_is_also_counted_from_the_last_receipt() -> None:
    view = DeviceView(1, "pi")
    # A clock running ahead cannot keep a device live once the server stops hearing it.
    for s in (0, 10, 20):
        view.apply(event(s + 240, temperature=20.0), T0 + timedelta(seconds=s))
    assert view.status_at(T0 + timedelta(seconds=25)) is Status.LIVE
    assert view.status_at(T0 + timedelta(seconds=55)) is Status.LATE


def test_a_clock_a_little_behind_keeps_a_posting_device_live() -> None:
    view = DeviceView(1, "pi")
    # Every 5 s, measured by a clock two minutes behind the server's.
    for s in range(0, 60, 5):
        view.apply(event(s - 120, temperature=20.0), T0 + timedelta(seconds=s))
    now = T0 + timedelta(seconds=57)
    assert view.status_at(now) is Status.LIVE
    assert not view.is_stale(T0 + timedelta(seconds=55 - 120), now)
    assert view.status_at(now + timedelta(seconds=16)) is Status.LATE  # then it stops


def test_a_clock_far_behind_is_not_excused() -> None:
    view = DeviceView(1, "pi")
    for s in range(0, 60, 5):  # ten minutes behind: beyond what is tolerated
        view.apply(event(s - 600, temperature=20.0), T0 + timedelta(seconds=s))
    assert view.clock_lag == CLOCK_LAG_TOLERATED
    assert view.status_at(T0 + timedelta(seconds=57)) is Status.OFFLINE


def test_a_value_is_stale_once_older_than_the_late_threshold() -> None:
    view = DeviceView(1, "pi")
    for s in (0, 10, 20):
        view.apply(event(s, temperature=20.0), T0 + timedelta(seconds=s))
    assert not view.is_stale(T0 + timedelta(seconds=20), T0 + timedelta(seconds=50))
    assert view.is_stale(T0 + timedelta(seconds=20), T0 + timedelta(seconds=51))


def test_the_latest_value_is_the_newest_measurement_not_the_last_received() -> None:
    view = DeviceView(1, "pi")
    view.apply(event(10, temperature=21.0), T0)
    view.apply(event(5, temperature=99.0), T0)  # late arrival of an older reading
    assert view.quantities["temperature"].value == 21.0


def test_the_sparkline_has_a_point_per_minute_and_gaps_for_silent_minutes() -> None:
    view = QuantityView("temperature")
    now = T0 + timedelta(minutes=59, seconds=30)
    view.add(T0, 10.0, now)
    view.add(T0 + timedelta(seconds=30), 20.0, now)
    view.add(T0 + timedelta(minutes=2), 30.0, now)
    points = view.sparkline(now)
    assert len(points) == 60
    assert points[:4] == [15.0, None, 30.0, None]


def test_a_view_nobody_renders_stays_bounded_through_a_backfill() -> None:
    view = QuantityView("temperature")
    now = T0 + timedelta(days=30)
    for minute in range(30 * 24 * 60):  # a month of minutes, sent after an outage
        view.add(T0 + timedelta(minutes=minute), 20.0, now)
    assert len(view.minutes) <= 60
    assert view.value == 20.0 and view.measured_at == T0 + timedelta(minutes=30 * 24 * 60 - 1)


def test_restoring_keeps_the_rhythm_it_is_given() -> None:
    view = DeviceView(1, "pi")
    minutes = {
        "temperature": {T0 + timedelta(minutes=m): (600.0, 30, 19.0, 21.0) for m in range(5)}
    }
    view.restore({"temperature": (20.0, T0)}, minutes, heard_at=T0, gaps=[2.0] * 12)
    assert view.interval == timedelta(seconds=2)
    assert view.quantities["temperature"].value == 20.0
    assert view.status_at(T0 + timedelta(seconds=3)) is Status.LIVE


def minutes_every(seconds: int, count: int) -> list[tuple[datetime, int]]:
    """Per-minute counts of a device posting every `seconds`, newest minute first."""
    counts: dict[datetime, int] = {}
    for i in range(count):
        at = T0 - timedelta(seconds=seconds * i)
        minute = at.replace(second=0, microsecond=0)
        counts[minute] = counts.get(minute, 0) + 1
    return sorted(counts.items(), reverse=True)


@pytest.mark.parametrize(("every", "expected"), [(2, 2.0), (10, 10.0), (90, 90.0), (300, 300.0)])
def test_the_rhythm_comes_from_the_minutes_with_data(every: int, expected: float) -> None:
    gaps = rhythm(minutes_every(every, 40))
    assert len(gaps) == 12
    assert statistics.median(gaps) == pytest.approx(expected, rel=0.35)


def test_a_device_posting_every_five_minutes_is_live_four_minutes_after_a_restart() -> None:
    view = DeviceView(1, "pi")
    view.restore({"temperature": (20.0, T0)}, {}, heard_at=T0, gaps=rhythm(minutes_every(300, 13)))
    assert view.interval == timedelta(seconds=300)
    assert view.status_at(T0 + timedelta(minutes=4)) is Status.LIVE
    assert view.status_at(T0 + timedelta(minutes=16)) is Status.LATE


def test_the_sparkline_moves_with_the_clock_and_forgets_minutes_past_its_hour() -> None:
    view = QuantityView("temperature")
    now = T0 + timedelta(minutes=59)
    for minute in range(60):
        view.add(T0 + timedelta(minutes=minute), float(minute), now)
    assert view.sparkline(now) == [float(m) for m in range(60)]
    later = now + timedelta(minutes=2)
    assert view.sparkline(later) == [float(m) for m in range(2, 60)] + [None, None]
    assert len(view.minutes) == 58  # the two minutes before the hour are gone
