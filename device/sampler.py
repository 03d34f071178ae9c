"""The sensor loop: read every sensor each interval, timestamp, spool; never wait on the network.

Per sensor and interval: a failed read is retried (no sooner than the driver allows,
2 s for a DHT, and at least RETRY_GAP apart) while the interval has time left, up to
`read_attempts` times; values outside the physical range are discarded as glitches.
A sensor that fails a whole interval is reported once, and once more when it recovers;
so is the spool when it cannot be written or is full: a DependencyHealth each, whose
state is noted in the spool after every interval (when it changed) for
`telemetry-agent status`.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from device.clock import Clock, ClockPolicy, ClockVerdict
from device.health import DependencyHealth
from device.options import AgentConfig
from device.sensors.base import Sensor, SensorError, Values, check_plausible
from device.spool import Held, Spool
from device.status import health_note

logger = logging.getLogger(__name__)

RETRY_GAP = 0.1
DEFAULT_POLICY = ClockPolicy()
_DEFAULTS = AgentConfig()


@dataclass(slots=True)
class SensorPace:
    """When a sensor was last read: the next attempt waits for its driver's interval."""

    last_attempt: float = -math.inf


@dataclass(slots=True)
class _Watched:
    """A sensor, when it was last read, and whether it works."""

    sensor: Sensor
    health: DependencyHealth
    pace: SensorPace = field(default_factory=SensorPace)


def _nothing() -> None:
    pass


def _literal(text: object) -> str:
    """`text` inside a DependencyHealth message, where braces are placeholders."""
    return str(text).replace("{", "{{").replace("}", "}}")


def read_sensor(
    sensor: Sensor,
    pace: SensorPace,
    clock: Clock,
    *,
    deadline: float,
    attempts: int,
    wait: Callable[[float], bool],
) -> Values | None:
    """One plausible reading, retried until `deadline`; None if `wait` says stop.

    Raises the last SensorError when every attempt failed.
    """
    error = SensorError("no attempt fitted in the interval")
    for attempt in range(max(1, attempts)):
        gap = max(sensor.min_interval, RETRY_GAP if attempt else 0.0)
        ready = pace.last_attempt + gap
        now = clock.monotonic()
        if ready > now:
            if attempt and ready >= deadline:
                break  # the next interval tries again
            if wait(ready - now):
                return None
        pace.last_attempt = clock.monotonic()
        try:
            values = sensor.read()
            check_plausible(values)
        except SensorError as exc:
            error = exc
            logger.debug("%s %s: attempt %d failed: %s", sensor.kind, sensor.name, attempt + 1, exc)
            continue
        return values
    raise error


class Sampler:
    """Takes readings on a fixed schedule and spools them."""

    def __init__(
        self,
        sensors: Sequence[Sensor],
        spool: Spool,
        clock: Clock,
        *,
        interval: float,
        wait: Callable[[float], bool],
        read_attempts: int = _DEFAULTS.read_attempts,
        policy: ClockPolicy = DEFAULT_POLICY,
        on_reading: Callable[[], None] = _nothing,
    ) -> None:
        self._spool = spool
        self._clock = clock
        self.interval = interval
        self._wait = wait
        self._attempts = max(1, read_attempts)
        self._policy = policy
        self._on_reading = on_reading
        self._holding = False
        self._has_held = spool.held_count() > 0
        self._sensors = [_Watched(sensor, self._watch(sensor)) for sensor in sensors]
        self._writes = self._dependency(
            down=f"cannot write to the spool {_literal(spool.path)}: {{reason}}; readings are "
            "lost until it works again (check free space and permissions)",
            up="writing to the spool works again after {seconds:.0f} s; "
            "{failures} reading(s) were lost",
            down_level=logging.ERROR,
        )
        self._room = self._dependency(
            down="{reason}: dropping the oldest to make room. Delivery is failing (see the "
            "errors above); fix it, or raise spool_max_rows",
            up="the spool has room again after {seconds:.0f} s; {failures} reading(s) taken "
            "while it was full each pushed out the oldest",
        )

    def _dependency(
        self, *, down: str, up: str, down_level: int = logging.WARNING
    ) -> DependencyHealth:
        return DependencyHealth(
            logger,
            down=down,
            up=up,
            down_level=down_level,
            monotonic=self._clock.monotonic,
            wall=self._clock.now,
        )

    def _watch(self, sensor: Sensor) -> DependencyHealth:
        kind = _literal(sensor.kind)
        return self._dependency(
            down=f"sensor {kind} {{reason}}; its readings are skipped until it recovers",
            up=f"sensor {kind} recovered after {{failures}} failed interval(s) ({{seconds:.0f}} s)",
        )

    def sample(self, deadline: float) -> int:
        """Read each sensor once (with retries until `deadline`); returns readings spooled."""
        spooled = 0
        for watched in self._sensors:
            values = self._read(watched, deadline)
            if values is None:
                continue
            try:
                self._spool_reading(values)
            except sqlite3.Error as exc:
                self._writes.failed(str(exc))
            else:
                self._writes.succeeded()
                spooled += 1
                self._on_reading()
            state = next((h.describe() for h in (self._writes, self._room) if h.down), "ok")
            self._note(health_note("spooling"), state)
        return spooled

    def _read(self, watched: _Watched, deadline: float) -> Values | None:
        sensor, health = watched.sensor, watched.health
        try:
            values = read_sensor(
                sensor,
                watched.pace,
                self._clock,
                deadline=deadline,
                attempts=self._attempts,
                wait=self._wait,
            )
        except SensorError as exc:
            health.failed(f"{sensor.name}: {exc}")
            values = None
        else:
            if values is None:
                return None  # asked to stop
            health.succeeded()
        state = health.describe() if health.down else f"ok ({sensor.name})"
        self._note(f"sensor.{sensor.kind}", state)
        return values

    def _note(self, name: str, state: str) -> None:
        try:
            self._spool.note_state(name, state)
        except sqlite3.Error:  # the spool's own health says so, once
            logger.debug("could not note %s in the spool", name)

    def _spool_reading(self, values: Values) -> None:
        verdict = self._policy.judge(self._clock)
        self._track_clock(verdict)
        if verdict.plausible:
            dropped = self._spool.add(values, measured_at=self._clock.now())
        else:
            held = Held(self._clock.boot_id(), self._clock.boottime())
            dropped = self._spool.add(values, held=held)
            self._has_held = True
        self._track_drops(dropped)

    def _track_clock(self, verdict: ClockVerdict) -> None:
        if not verdict.plausible:
            if not self._holding:
                logger.warning(
                    "holding readings: %s. They are dated from the boot clock and sent once the "
                    "clock is set; check NTP with `timedatectl` if this lasts",
                    verdict.reason,
                )
                self._holding = True
            return
        if self._has_held:
            dated, undatable = self._spool.date_held(
                self._clock.boot_id(), self._clock.boottime(), self._clock.now()
            )
            logger.info(
                "the clock is set: dated %d held reading(s)%s",
                dated,
                f"; dropped {undatable} taken before a reboot, which cannot be dated"
                if undatable
                else "",
            )
            self._has_held = False
        self._holding = False

    def _track_drops(self, dropped: int) -> None:
        if dropped:
            self._room.failed(f"the spool is full ({self._spool.max_rows} readings)")
        else:
            self._room.succeeded()

    def run(self, stop: threading.Event) -> None:
        """Sample every interval until `stop` is set; late ticks are skipped, not bunched."""
        start = self._clock.monotonic()
        tick = 0
        for sensor in (watched.sensor for watched in self._sensors):
            if sensor.min_interval > self.interval:
                logger.warning(
                    "interval %g s is shorter than %s %s allows; it is read every %g s",
                    self.interval,
                    sensor.kind,
                    sensor.name,
                    sensor.min_interval,
                )
        while not stop.is_set():
            self.sample(start + (tick + 1) * self.interval)
            now = self._clock.monotonic()
            tick = max(tick + 1, math.floor((now - start) / self.interval) + 1)
            if self._wait(max(0.0, start + tick * self.interval - now)):
                return
