"""The sensor loop: retries, the DHT's 2 s, glitches, failure reports, held readings, full spool."""

from __future__ import annotations

import errno
import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from device.clock import ClockPolicy, format_time
from device.sampler import Sampler
from device.sensors.base import Sensor, SensorError, Values
from device.sensors.iio import IIO
from device.sensors.sysfs import SysfsSensor
from device.spool import Spool
from tests.device.fakes import FakeClock, FaultyFiles, SysfsTree


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool.open(tmp_path / "spool.db")


@pytest.fixture
def files() -> FaultyFiles:
    return FaultyFiles()


@pytest.fixture
def dht(tmp_path: Path, files: FaultyFiles) -> SysfsSensor:
    SysfsTree(tmp_path).iio(0, "dht11@4", in_temp_input=21500, in_humidityrelative_input=40200)
    return SysfsSensor(IIO, tmp_path, "dht11", files)


class TimedSensor:
    """A sensor that records when it was read and plays back a script of results."""

    kind = "scripted"
    name = "s"

    def __init__(self, clock: FakeClock, results: list[Values | int], min_interval: float = 0):
        self.clock = clock
        self.results = results
        self.min_interval = min_interval
        self.read_at: list[float] = []

    def read(self) -> Values:
        self.read_at.append(self.clock.monotonic())
        result = self.results.pop(0) if self.results else {"temperature": 20.0}
        if isinstance(result, int):
            raise SensorError("scripted failure", code=result)
        return result


def _sampler(sensors: list[Sensor], spool: Spool, clock: FakeClock, **options: Any) -> Sampler:
    return Sampler(sensors, spool, clock, interval=30.0, wait=clock.wait, **options)


def test_reading_is_spooled_with_the_time_it_was_taken(
    dht: SysfsSensor, spool: Spool, clock: FakeClock
) -> None:
    assert _sampler([dht], spool, clock).sample(deadline=clock.mono + 30) == 1
    (reading,) = spool.next_batch(10)
    assert reading.measured_at == format_time(clock.now())
    assert reading.payload == '{"temperature":21.5,"humidity":40.2}'


def test_a_failed_dht_read_is_retried_two_seconds_later_within_the_interval(
    dht: SysfsSensor, files: FaultyFiles, spool: Spool, clock: FakeClock
) -> None:
    files.fail("in_temp_input", errno.EIO, errno.ETIMEDOUT)
    start = clock.mono
    assert _sampler([dht], spool, clock).sample(deadline=start + 30) == 1
    assert clock.mono - start == pytest.approx(4.0)  # two retries, 2 s apart
    assert len(spool.next_batch(10)) == 1


def test_a_dht_is_never_read_more_often_than_every_two_seconds(
    spool: Spool, clock: FakeClock
) -> None:
    sensor = TimedSensor(clock, [errno.EIO, errno.EIO, {"temperature": 20.0}], min_interval=2.0)
    sampler = Sampler([sensor], spool, clock, interval=0.5, wait=clock.wait)
    for _ in range(4):
        sampler.sample(deadline=clock.mono + 0.5)
        clock.advance(0.5)
    gaps = [b - a for a, b in zip(sensor.read_at, sensor.read_at[1:], strict=False)]
    assert gaps
    assert min(gaps) >= 2.0


def test_retries_stop_when_the_interval_is_over(spool: Spool, clock: FakeClock) -> None:
    sensor = TimedSensor(clock, [errno.EIO] * 10, min_interval=2.0)
    _sampler([sensor], spool, clock, read_attempts=5).sample(deadline=clock.mono + 3.0)
    assert len(sensor.read_at) == 2  # at 0 s and 2 s; a third at 4 s would pass the deadline


def test_impossible_values_are_discarded_and_read_again(spool: Spool, clock: FakeClock) -> None:
    sensor = TimedSensor(clock, [{"humidity": 255.0}, {"humidity": 40.0}])
    _sampler([sensor], spool, clock).sample(deadline=clock.mono + 30)
    (reading,) = spool.next_batch(10)
    assert reading.payload == '{"humidity":40.0}'
    assert len(sensor.read_at) == 2


def test_a_failing_sensor_is_logged_once_and_its_recovery_once(
    dht: SysfsSensor,
    files: FaultyFiles,
    spool: Spool,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files.fail("in_temp_input", *[errno.ETIMEDOUT] * 9)
    sampler = _sampler([dht], spool, clock)
    with caplog.at_level(logging.INFO, logger="device.sampler"):
        for _ in range(4):  # three failing intervals, then a good one
            sampler.sample(deadline=clock.mono + 30)
            clock.advance(30)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    recoveries = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(warnings) == 1
    assert "ETIMEDOUT" in warnings[0].getMessage()
    assert "wiring" in warnings[0].getMessage()
    assert len(recoveries) == 1
    assert "3 failed interval" in recoveries[0].getMessage()
    assert spool.status().notes["sensor.iio"] == "ok (dht11@4)"


def test_a_failing_sensor_is_shown_in_the_status(
    dht: SysfsSensor, files: FaultyFiles, spool: Spool, clock: FakeClock
) -> None:
    files.fail("in_temp_input", *[errno.EIO] * 3)
    _sampler([dht], spool, clock).sample(deadline=clock.mono + 30)
    assert (
        spool.status()
        .notes["sensor.iio"]
        .startswith(f"failing since {clock.now():%Y-%m-%dT%H:%M:%SZ}: dht11@4: ")
    )


def test_one_failing_sensor_does_not_stop_the_others(spool: Spool, clock: FakeClock) -> None:
    broken = TimedSensor(clock, [errno.EIO] * 10)
    working = TimedSensor(clock, [{"cpu_temperature": 50.0}])
    assert _sampler([broken, working], spool, clock).sample(deadline=clock.mono + 30) == 1
    assert spool.next_batch(10)[0].payload == '{"cpu_temperature":50.0}'


def test_readings_before_the_clock_is_set_are_held_then_dated_when_it_is(
    spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(datetime(1970, 1, 1, 0, 0, 12, tzinfo=UTC), uptime=12.0)
    sampler = _sampler([TimedSensor(clock, [])], spool, clock)
    with caplog.at_level(logging.INFO, logger="device.sampler"):
        sampler.sample(deadline=clock.mono + 30)
        clock.advance(30)
        sampler.sample(deadline=clock.mono + 30)
        assert spool.next_batch(10) == []
        assert spool.held_count() == 2
        clock.wall = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)  # NTP steps the clock
        clock.advance(30)
        sampler.sample(deadline=clock.mono + 30)
    assert [r.measured_at for r in spool.next_batch(10)] == [
        "2026-11-21T09:59:30.000000Z",  # taken 60 s and 30 s before the clock was set
        "2026-11-21T10:00:00.000000Z",
        "2026-11-21T10:00:30.000000Z",
    ]
    holding = [r for r in caplog.records if "holding readings" in r.getMessage()]
    assert len(holding) == 1
    assert "1970-01-01" in holding[0].getMessage()
    assert any("dated 2 held" in r.getMessage() for r in caplog.records)


def test_an_unsynchronised_clock_soon_after_boot_holds_readings(spool: Spool) -> None:
    # fake-hwclock restored a stale but plausible time; NTP has not answered yet.
    clock = FakeClock(uptime=20.0, synced=False)
    sampler = _sampler([TimedSensor(clock, [])], spool, clock, policy=ClockPolicy(sync_grace=600))
    sampler.sample(deadline=clock.mono + 30)
    assert spool.held_count() == 1
    clock.synced = True
    sampler.sample(deadline=clock.mono + 30)
    assert spool.held_count() == 0
    assert len(spool.next_batch(10)) == 2


def test_held_readings_from_before_a_reboot_are_dropped_as_undatable(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "spool.db")
    before = FakeClock(datetime(1970, 1, 1, tzinfo=UTC), boot_id="boot-1", uptime=5.0)
    _sampler([TimedSensor(before, [])], spool, before).sample(deadline=before.mono + 30)
    after = FakeClock(boot_id="boot-2")  # rebooted, and the clock is set this time
    _sampler([TimedSensor(after, [])], spool, after).sample(deadline=after.mono + 30)
    status = spool.status()
    assert (status.held, status.pending, status.counters["undatable"]) == (0, 1, 1)


def test_a_full_spool_is_reported_once_when_dropping_starts_and_once_when_it_stops(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool.open(tmp_path / "spool.db", max_rows=2)
    sampler = _sampler([TimedSensor(clock, [])], spool, clock)
    with caplog.at_level(logging.INFO, logger="device.sampler"):
        for _ in range(5):
            sampler.sample(deadline=clock.mono + 30)
            clock.advance(1)
        for reading in spool.next_batch(2):  # delivery works again
            spool.acknowledge([reading.id], duplicates=0, at=clock.now())
        sampler.sample(deadline=clock.mono + 30)
    full = [r for r in caplog.records if "spool is full" in r.getMessage()]
    room = [r for r in caplog.records if "room again" in r.getMessage()]
    assert len(full) == 1
    assert "spool_max_rows" in full[0].getMessage()
    assert len(room) == 1
    assert "3 reading(s) taken while it was full each pushed out the oldest" in room[0].getMessage()
    assert spool.status().counters["dropped"] == 3


def test_the_loop_keeps_its_schedule_and_skips_ticks_it_missed(
    spool: Spool, clock: FakeClock
) -> None:
    class Slow(TimedSensor):
        def read(self) -> Values:
            values = super().read()
            if len(self.read_at) == 2:
                self.clock.advance(25)  # one read takes two and a half intervals
            return values

    sensor = Slow(clock, [])
    stop_after = clock.mono + 100

    def wait(seconds: float) -> bool:
        clock.advance(seconds)
        return clock.mono >= stop_after

    import threading

    sampler = Sampler([sensor], spool, clock, interval=10.0, wait=wait)
    sampler.run(threading.Event())
    start = sensor.read_at[0]
    assert [t - start for t in sensor.read_at] == [0, 10, 40, 50, 60, 70, 80, 90]


def test_the_simulated_sensor_with_errors_still_delivers_most_intervals(
    spool: Spool, clock: FakeClock
) -> None:
    from device.sensors.simulated import SimulatedSensor

    sensor = SimulatedSensor(clock.now, seed=3, error_rate=0.3)
    sampler = _sampler([sensor], spool, clock)
    for _ in range(50):
        sampler.sample(deadline=clock.mono + 30)
        clock.advance(30)
    # Three attempts per interval: an interval is lost only when all three fail (2.7 %).
    assert spool.status().pending >= 45


def test_readings_are_stamped_in_utc(spool: Spool) -> None:
    # A wall clock in another zone (as a Pi's local time is): the stamp is still UTC.
    paris = timezone(timedelta(hours=1))
    clock = FakeClock(datetime(2026, 11, 21, 12, 0, tzinfo=paris) + timedelta(microseconds=7))
    _sampler([TimedSensor(clock, [])], spool, clock).sample(deadline=clock.mono + 30)
    assert spool.next_batch(1)[0].measured_at == "2026-11-21T11:00:00.000007Z"
