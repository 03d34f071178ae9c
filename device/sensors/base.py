"""What every sensor offers, the errors a read can raise, and the plausible range of values."""

from __future__ import annotations

import errno
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

Values = dict[str, float]


class SensorError(Exception):
    """A read failed; the message says what to check. `gone` means the device vanished."""

    def __init__(self, message: str, *, code: int | None = None, gone: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.gone = gone


class Sensor(Protocol):
    """A source of readings: one read returns every quantity it measures."""

    @property
    def kind(self) -> str:
        """The registry name: iio, hwmon, thermal or simulated."""
        ...

    @property
    def name(self) -> str:
        """The driver's name for the device (or what is being looked for)."""
        ...

    @property
    def min_interval(self) -> float:
        """Seconds that must pass between two reads (a DHT needs 2)."""
        ...

    def read(self) -> Values:
        """Read every quantity once; raises SensorError."""
        ...


@dataclass(frozen=True, slots=True)
class Plausible:
    """The values a quantity can physically take, and its unit for display."""

    unit: str
    minimum: float
    maximum: float


# The same bounds as the server's app/telemetry/quantities.py (a test keeps them equal):
# a value outside them is a glitch (a DHT checksum that passed by chance), and the
# server would refuse it anyway.
PLAUSIBLE: Mapping[str, Plausible] = MappingProxyType(
    {
        "temperature": Plausible("°C", -90.0, 150.0),
        "humidity": Plausible("%RH", 0.0, 100.0),
        "pressure": Plausible("hPa", 300.0, 1100.0),
        "cpu_temperature": Plausible("°C", -40.0, 125.0),
    }
)

# What a failed read's errno means for the person holding the wires.
ERRNO_HINTS: Mapping[int, str] = MappingProxyType(
    {
        errno.EIO: "the sensor's answer was garbled (EIO); a few percent are normal for a DHT, "
        "many mean a loose wire or a missing pull-up resistor",
        errno.ETIMEDOUT: "the sensor did not answer (ETIMEDOUT); check the wiring and the GPIO "
        "pin given to the dtoverlay",
        errno.EAGAIN: "the driver asked to try again later (EAGAIN)",
        errno.EBUSY: "the device is busy (EBUSY)",
        errno.EREMOTEIO: "the I2C device did not acknowledge (EREMOTEIO); check the wiring and "
        "the address given to the dtoverlay",
        errno.ENODEV: "the device is gone (ENODEV)",
        errno.ENXIO: "the device is gone (ENXIO)",
        errno.ENOENT: "the device is gone (its sysfs file disappeared)",
    }
)
GONE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.ENOENT})


def error_from_os(exc: OSError, where: str) -> SensorError:
    """A SensorError that explains an OSError raised while reading `where`."""
    code = exc.errno
    hint = ERRNO_HINTS.get(code or 0) or f"{exc.strerror or exc} (errno {code})"
    return SensorError(f"{where}: {hint}", code=code, gone=code in GONE_ERRNOS)


def check_plausible(values: Values) -> None:
    """Raise SensorError if any value is not finite or outside its physical range."""
    for quantity, value in values.items():
        if not math.isfinite(value):
            raise SensorError(f"{quantity} read as {value}; discarded")
        bounds = PLAUSIBLE.get(quantity)
        if bounds is not None and not bounds.minimum <= value <= bounds.maximum:
            raise SensorError(
                f"{quantity} read as {value:g} {bounds.unit}, outside "
                f"{bounds.minimum:g}..{bounds.maximum:g}; discarded as a glitch"
            )


def format_values(values: Values) -> str:
    """Values with their units, for people: `temperature=21.5 °C, humidity=40.2 %RH`."""
    parts = []
    for quantity, value in values.items():
        unit = PLAUSIBLE[quantity].unit if quantity in PLAUSIBLE else ""
        parts.append(f"{quantity}={value:g}" + (f" {unit}" if unit else ""))
    return ", ".join(parts)
