"""When the wall clock is trusted to timestamp a reading."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from device.clock import (
    CLOCK_FLOOR,
    ClockPolicy,
    SystemClock,
    date_held,
    format_time,
    kernel_synchronized,
    parse_time,
)
from tests.device.fakes import FakeClock


def test_a_clock_in_1970_is_not_plausible() -> None:
    verdict = ClockPolicy().judge(FakeClock(datetime(1970, 1, 1, 0, 1, tzinfo=UTC)))
    assert not verdict.plausible
    assert "1970-01-01T00:01:00.000000Z" in verdict.reason


def test_a_clock_before_the_release_floor_is_not_plausible() -> None:
    assert not ClockPolicy().judge(FakeClock(datetime(2024, 6, 1, tzinfo=UTC))).plausible
    assert ClockPolicy().judge(FakeClock(CLOCK_FLOOR)).plausible


def test_soon_after_boot_the_kernel_must_say_the_clock_is_synchronised() -> None:
    policy = ClockPolicy(sync_grace=600)
    assert not policy.judge(FakeClock(uptime=30, synced=False)).plausible
    assert policy.judge(FakeClock(uptime=30, synced=True)).plausible
    assert policy.judge(FakeClock(uptime=30, synced=None)).plausible  # cannot tell: trust it


def test_after_the_grace_period_an_unsynchronised_clock_is_trusted() -> None:
    assert ClockPolicy(sync_grace=600).judge(FakeClock(uptime=601, synced=False)).plausible
    assert ClockPolicy(sync_grace=0).judge(FakeClock(uptime=1, synced=False)).plausible


def test_a_held_reading_is_dated_from_the_boot_clock() -> None:
    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert date_held(now, boottime_now=100.0, boottime_then=40.5) == datetime(
        2026, 11, 21, 9, 59, 0, 500000, tzinfo=UTC
    )


def test_times_are_written_in_utc_with_microseconds_and_z() -> None:
    moment = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
    assert format_time(moment) == "2026-11-21T10:00:00.123456Z"
    assert parse_time(format_time(moment)) == moment


def test_the_system_clock_answers_on_this_machine(tmp_path: Path) -> None:
    clock = SystemClock(boot_id_path=tmp_path / "missing")
    assert clock.now().tzinfo is UTC
    assert clock.boottime() > 0
    assert clock.boot_id() == clock.boot_id()  # stable within the process
    assert clock.boot_id().startswith("process-")
    assert kernel_synchronized() in (True, False, None)


def test_the_boot_id_comes_from_the_kernel(tmp_path: Path) -> None:
    (tmp_path / "boot_id").write_text("f0b8b348-f38c-4327-932e-46b635afe3e2\n")
    assert SystemClock(tmp_path / "boot_id").boot_id() == "f0b8b348-f38c-4327-932e-46b635afe3e2"
