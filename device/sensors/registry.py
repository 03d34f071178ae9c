"""The table of sensor kinds: how each is opened and where it is discovered."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from device.sensors.base import Sensor
from device.sensors.hwmon import HWMON
from device.sensors.iio import IIO
from device.sensors.simulated import SimulatedSensor
from device.sensors.sysfs import Bus, Device, ReadFile, SysfsSensor, list_devices, read_attribute
from device.sensors.thermal import THERMAL


@dataclass(frozen=True, slots=True)
class SensorSettings:
    """The options that choose a device of each kind."""

    root: Path = Path("/")
    iio_name: str = ""
    hwmon_name: str = ""
    thermal_zone: str = "cpu-thermal"
    simulated_seed: int = 0
    simulated_error_rate: float = 0.0


Opener = Callable[[SensorSettings, Callable[[], datetime], ReadFile], Sensor]


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of sensor as the configuration names it."""

    name: str
    help: str
    open: Opener
    bus: Bus | None = None


KINDS: Mapping[str, Kind] = MappingProxyType(
    {
        k.name: k
        for k in (
            Kind(
                "iio",
                "IIO sensors: DHT11/DHT22/AM2302, BME280/BMP280 (chosen by iio_name)",
                lambda s, _, r: SysfsSensor(IIO, s.root, s.iio_name, r),
                IIO,
            ),
            Kind(
                "hwmon",
                "hwmon sensors: SHT3x/SHT4x (chosen by hwmon_name)",
                lambda s, _, r: SysfsSensor(HWMON, s.root, s.hwmon_name, r),
                HWMON,
            ),
            Kind(
                "thermal",
                "the CPU temperature (thermal zone chosen by thermal_zone)",
                lambda s, _, r: SysfsSensor(THERMAL, s.root, s.thermal_zone, r),
                THERMAL,
            ),
            Kind(
                "simulated",
                "a simulated sensor with a daily cycle (simulated_seed, simulated_error_rate)",
                lambda s, now, _: SimulatedSensor(
                    now, seed=s.simulated_seed, error_rate=s.simulated_error_rate
                ),
            ),
        )
    }
)


def open_sensor(
    kind: str,
    settings: SensorSettings,
    now: Callable[[], datetime],
    read_file: ReadFile = read_attribute,
) -> Sensor:
    """The sensor of `kind` (KeyError if there is no such kind)."""
    return KINDS[kind].open(settings, now, read_file)


def discover(root: Path, read_file: ReadFile = read_attribute) -> list[Device]:
    """Every device on every bus under the sysfs `root`."""
    found: list[Device] = []
    for kind in KINDS.values():
        if kind.bus is not None:
            found.extend(list_devices(kind.bus, root, read_file))
    return found
