"""A simulated temperature, humidity and pressure sensor for demos and tests.

The values follow a daily cycle (coolest around 05:00 UTC, warmest around 17:00),
humidity moves against temperature, and a seeded random generator adds noise and,
when asked, read errors: the same seed and the same times give the same readings.
"""

from __future__ import annotations

import errno
import math
import random
from collections.abc import Callable
from datetime import datetime

from device.sensors.base import ERRNO_HINTS, SensorError, Values

SECONDS_PER_DAY = 86_400.0


class SimulatedSensor:
    """A sensor with a realistic daily cycle and noise, deterministic under a seed."""

    kind = "simulated"
    min_interval = 0.0

    def __init__(
        self, now: Callable[[], datetime], *, seed: int = 0, error_rate: float = 0.0
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, not {error_rate}")
        self._now = now
        self._random = random.Random(seed)  # noqa: S311  (simulation, not secrets)
        self._error_rate = error_rate
        self._seed = seed

    @property
    def name(self) -> str:
        """Which simulated sensor this is."""
        return f"seed-{self._seed}"

    def read(self) -> Values:
        """A reading for the current time; fails with EIO at the configured rate."""
        # Draw the error decision first so that the noise sequence does not depend on it.
        failing = self._random.random() < self._error_rate
        noise = [self._random.gauss(0.0, 1.0) for _ in range(3)]
        if failing:
            raise SensorError(f"simulated: {ERRNO_HINTS[errno.EIO]}", code=errno.EIO)
        moment = self._now()
        seconds = moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6
        phase = 2 * math.pi * (seconds / SECONDS_PER_DAY - 11 / 24)  # peak at 17:00
        cycle = math.sin(phase)
        temperature = 19.0 + 4.0 * cycle + 0.15 * noise[0]
        humidity = 55.0 - 12.0 * cycle + 0.8 * noise[1]
        pressure = 1013.0 + 2.0 * math.sin(phase / 3) + 0.1 * noise[2]
        return {
            "temperature": round(temperature, 2),
            "humidity": round(min(100.0, max(0.0, humidity)), 1),
            "pressure": round(pressure, 2),
        }
