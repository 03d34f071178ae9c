"""The wall clock, and whether it can be trusted to timestamp a reading.

A Raspberry Pi has no real-time clock. It boots in 1970, or, on Raspberry Pi OS, at the
time fake-hwclock saved before the last shutdown: plausible-looking but stale until NTP
sets it. The policy (docs/agent.md, "The clock"):

- The clock is plausible when it shows CLOCK_FLOOR or later and, during the first
  `sync_grace` seconds after boot, the kernel says it is synchronised (adjtimex:
  maximum error under 16 s, the test timedatectl uses). After the grace period the floor
  alone decides, so a device that keeps time without NTP is not held forever.
- A reading taken while the clock is not plausible is held in the spool with the boot
  clock (CLOCK_BOOTTIME: counts from boot, never jumps) and the boot's id. When the clock
  becomes plausible it is dated `now - (boottime now - boottime then)`: the moment it was
  taken, computed once and never changed after.
- A held reading from an earlier boot cannot be dated (the boot clock restarted): it is
  dropped and counted as undatable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

# Around the release of this agent: no reading can have been taken earlier. Bump it
# now and then; it only has to be before any real deployment's first boot.
CLOCK_FLOOR = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_SYNC_GRACE = 600.0
# timedatectl's rule (systemd ntp_synced): synchronised while the kernel's maximum
# error estimate is below 16 s.
SYNC_MAX_ERROR_US = 16_000_000
BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")


class Clock(Protocol):
    """The clocks the agent reads; tests pass a fake."""

    def now(self) -> datetime:
        """The wall-clock time in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for intervals and backoff)."""
        ...

    def boottime(self) -> float:
        """Seconds since boot, including suspend."""
        ...

    def boot_id(self) -> str:
        """An id that changes at every boot."""
        ...

    def synchronized(self) -> bool | None:
        """Whether the kernel considers the clock synchronised; None if unknown."""
        ...


class _Timex(ctypes.Structure):
    # The head of struct timex (sys/timex.h); the tail is padding we never read.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    )


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


def kernel_synchronized() -> bool | None:
    """What adjtimex(2) says about NTP synchronisation; None where it cannot be asked."""
    libc = _libc()
    adjtimex = getattr(libc, "adjtimex", None) if libc is not None else None
    if adjtimex is None:
        return None
    timex = _Timex()  # modes = 0: read only
    if adjtimex(ctypes.byref(timex)) < 0:
        return None
    return bool(timex.maxerror < SYNC_MAX_ERROR_US)


class SystemClock:
    """The machine's clocks."""

    def __init__(self, boot_id_path: Path = BOOT_ID_PATH) -> None:
        self._boot_id_path = boot_id_path
        self._boot_id: str | None = None

    def now(self) -> datetime:
        """The wall-clock time in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""
        return time.monotonic()

    def boottime(self) -> float:
        """Seconds since boot (CLOCK_BOOTTIME where the system has it)."""
        if hasattr(time, "CLOCK_BOOTTIME"):
            return time.clock_gettime(time.CLOCK_BOOTTIME)
        return time.monotonic()

    def boot_id(self) -> str:
        """The kernel's boot id; elsewhere an id for this process, which is as safe."""
        if self._boot_id is None:
            try:
                self._boot_id = self._boot_id_path.read_text().strip()
            except OSError:
                self._boot_id = f"process-{uuid.uuid4()}"
        return self._boot_id

    def synchronized(self) -> bool | None:
        """The kernel's view of NTP synchronisation."""
        return kernel_synchronized()


@dataclass(frozen=True, slots=True)
class ClockVerdict:
    """Whether the clock can timestamp readings now, and if not, why."""

    plausible: bool
    reason: str


@dataclass(frozen=True, slots=True)
class ClockPolicy:
    """When the wall clock is trusted (see the module docstring)."""

    floor: datetime = CLOCK_FLOOR
    sync_grace: float = DEFAULT_SYNC_GRACE

    def judge(self, clock: Clock) -> ClockVerdict:
        """Whether readings can be timestamped with `clock.now()` right now."""
        now = clock.now()
        if now < self.floor:
            return ClockVerdict(
                False,
                f"the clock shows {format_time(now)}, before {self.floor:%Y-%m-%d}: "
                "it has not been set since boot",
            )
        uptime = clock.boottime()
        if uptime < self.sync_grace and clock.synchronized() is False:
            return ClockVerdict(
                False,
                f"the kernel says the clock is not synchronised yet ({uptime:.0f} s after boot; "
                f"trusted anyway {self.sync_grace:.0f} s after boot)",
            )
        return ClockVerdict(True, "the clock is set")


def date_held(now: datetime, boottime_now: float, boottime_then: float) -> datetime:
    """When a held reading was taken, from the boot clock then and now."""
    return now - timedelta(seconds=boottime_now - boottime_then)


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and Z: the exact text the server receives."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """The inverse of format_time."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
