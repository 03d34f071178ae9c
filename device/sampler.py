"""The sensor loop: read every sensor each interval, timestamp, spool; never wait on the network.

Per sensor and interval: a failed read is retried (no sooner than the driver allows,
2 s for a DHT, and at least RETRY_GAP apart) while the interval has time left, up to
`read_attempts` times; values outside the physical range are discarded as glitches.
A sensor that fails a whole interval is reported once, and once more when it recovers.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from device.clock import Clock, ClockPolicy, ClockVerdict, format_time
from device.sensors.base import Sensor, SensorError, Values, check_plausible
from device.spool import Held, Spool

logger = logging.getLogger(__name__)

RETRY_GAP = 0.1
DEFAULT_POLICY = ClockPolicy()


@dataclass(slots=True)
class SensorHealth:
    """What the loop remembers about one sensor between reads."""

    last_attempt: float = -math.inf
    failing: bool = False
    failed_intervals: int = 0
    noted: bool = False  # its state is in the spool's notes, for `status`


def _nothing() -> None:
    pass


def read_sensor(
    sensor: Sensor,
    health: SensorHealth,
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
        ready = health.last_attempt + gap
        now = clock.monotonic()
        if ready > now:
            if attempt and ready >= deadline:
                break  # the next interval tries again
            if wait(ready - now):
                return None
        health.last_attempt = clock.monotonic()
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
        read_attempts: int = 3,
        policy: ClockPolicy = DEFAULT_POLICY,
        on_reading: Callable[[], None] = _nothing,
    ) -> None:
        self._sensors = [(sensor, SensorHealth()) for sensor in sensors]
        self._spool = spool
        self._clock = clock
        self.interval = interval
        self._wait = wait
        self._attempts = max(1, read_attempts)
        self._policy = policy
        self._on_reading = on_reading
        self._holding = False
        self._has_held = spool.held_count() > 0
        self._dropping = 0
        self._spool_failing = False

    def sample(self, deadline: float) -> int:
        """Read each sensor once (with retries until `deadline`); returns readings spooled."""
        spooled = 0
        for sensor, health in self._sensors:
            values = self._read(sensor, health, deadline)
            if values is None:
                continue
            try:
                self._spool_reading(values)
            except sqlite3.Error as exc:
                if not self._spool_failing:
                    logger.error(
                        "cannot write to the spool %s: %s; readings are lost until it works "
                        "again (check free space and permissions)",
                        self._spool.path,
                        exc,
                    )
                    self._spool_failing = True
                continue
            if self._spool_failing:
                logger.info("writing to the spool works again")
                self._spool_failing = False
            spooled += 1
            self._on_reading()
        return spooled

    def _read(self, sensor: Sensor, health: SensorHealth, deadline: float) -> Values | None:
        try:
            values = read_sensor(
                sensor,
                health,
                self._clock,
                deadline=deadline,
                attempts=self._attempts,
                wait=self._wait,
            )
        except SensorError as exc:
            self._failed(sensor, health, exc)
            return None
        if values is not None:
            self._recovered(sensor, health)
        return values

    def _failed(self, sensor: Sensor, health: SensorHealth, error: SensorError) -> None:
        health.failed_intervals += 1
        if health.failing:
            return
        health.failing = True
        health.noted = True
        message = str(error)
        logger.warning(
            "sensor %s %s is failing: %s; its readings are skipped until it recovers",
            sensor.kind,
            sensor.name,
            message,
        )
        self._note_sensor(sensor, f"failing since {format_time(self._clock.now())}: {message}")

    def _recovered(self, sensor: Sensor, health: SensorHealth) -> None:
        if health.failing:
            logger.info(
                "sensor %s %s recovered after %d failed interval(s)",
                sensor.kind,
                sensor.name,
                health.failed_intervals,
            )
        if health.failing or not health.noted:
            self._note_sensor(sensor, f"ok ({sensor.name})")
            health.noted = True
        health.failing = False
        health.failed_intervals = 0

    def _note_sensor(self, sensor: Sensor, state: str) -> None:
        try:
            self._spool.note(f"sensor.{sensor.kind}", state)
        except sqlite3.Error:
            logger.debug("could not note the state of %s", sensor.kind)

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
        if dropped and not self._dropping:
            logger.warning(
                "the spool is full (%d readings): dropping the oldest to make room. Delivery "
                "is failing (see the errors above); fix it, or raise spool_max_rows",
                self._spool.max_rows,
            )
        elif not dropped and self._dropping:
            logger.info("the spool has room again; %d reading(s) were dropped", self._dropping)
        self._dropping = self._dropping + dropped if dropped else 0

    def run(self, stop: threading.Event) -> None:
        """Sample every interval until `stop` is set; late ticks are skipped, not bunched."""
        start = self._clock.monotonic()
        tick = 0
        for sensor, _ in self._sensors:
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
