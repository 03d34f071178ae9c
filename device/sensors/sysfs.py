"""Sensors that a kernel subsystem exposes under /sys, declared as data: a Bus and its Channels.

A device is found by the name its driver gives it (its `name` or `type` file), never by
its index: iio:device0 today may be iio:device1 after the next boot. Values are read
from `<stem>_input` (already in the subsystem's unit), or for IIO from `<stem>_raw`
with `_offset` and `_scale`: value = (raw + offset) × scale. A Channel's factor then
converts the subsystem's unit (milli-°C, milli-%RH, kPa) to the unit we send.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from device.sensors.base import SensorError, Values, error_from_os

ReadFile = Callable[[Path], str]

MAX_ATTRIBUTE_BYTES = 4096  # a sysfs attribute is at most one page


def read_attribute(path: Path) -> str:
    """The text of one sysfs attribute (bounded to a page)."""
    with path.open("rb") as handle:
        return handle.read(MAX_ATTRIBUTE_BYTES).decode("ascii", "replace")


@dataclass(frozen=True, slots=True)
class Channel:
    """One quantity a driver exposes: its file stem and the factor to our unit."""

    quantity: str
    stem: str
    factor: float


@dataclass(frozen=True, slots=True)
class Bus:
    """A kernel subsystem: where its devices live, what they are called, what they measure."""

    kind: str
    directory: str
    prefix: str
    name_file: str
    channels: tuple[Channel, ...]
    hint: str
    input_suffix: str = "_input"
    raw_and_scale: bool = False
    subdirectories: tuple[str, ...] = ("",)
    min_intervals: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    # Without a name, the first device measuring this is used (hwmon also lists the CPU).
    unnamed_needs: str = ""


@dataclass(frozen=True, slots=True)
class ChannelFiles:
    """Where one quantity of one device is read from."""

    quantity: str
    factor: float
    value: Path
    scale: Path | None = None
    offset: Path | None = None


@dataclass(frozen=True, slots=True)
class Device:
    """A device found on a bus, with the channels it has."""

    kind: str
    name: str
    path: Path
    channels: tuple[ChannelFiles, ...]

    @property
    def quantities(self) -> tuple[str, ...]:
        """The quantities this device measures."""
        return tuple(c.quantity for c in self.channels)


def driver_name(name: str) -> str:
    """The driver part of a device name: `dht11@4` is a dht11."""
    return name.partition("@")[0]


def _index(entry: Path, prefix: str) -> int:
    suffix = entry.name[len(prefix) :]
    return int(suffix) if suffix.isdigit() else 1 << 30


def _channel_files(bus: Bus, base: Path) -> tuple[ChannelFiles, ...]:
    found: dict[str, ChannelFiles] = {}
    for channel in bus.channels:
        if channel.quantity in found:
            continue
        for sub in bus.subdirectories:
            directory = base / sub if sub else base
            processed = directory / f"{channel.stem}{bus.input_suffix}"
            raw = directory / f"{channel.stem}_raw"
            if processed.is_file():
                found[channel.quantity] = ChannelFiles(channel.quantity, channel.factor, processed)
            elif bus.raw_and_scale and raw.is_file():
                # IIO shares _scale and _offset by type when a channel is indexed (in_temp0_raw).
                shared = re.sub(r"\d+$", "", channel.stem)
                scale = _first_file(directory, f"{channel.stem}_scale", f"{shared}_scale")
                offset = _first_file(directory, f"{channel.stem}_offset", f"{shared}_offset")
                found[channel.quantity] = ChannelFiles(
                    channel.quantity, channel.factor, raw, scale, offset
                )
            else:
                continue
            break
    return tuple(found.values())


def _first_file(directory: Path, *names: str) -> Path | None:
    for name in names:
        if (directory / name).is_file():
            return directory / name
    return None


def list_devices(bus: Bus, root: Path, read_file: ReadFile = read_attribute) -> list[Device]:
    """Every device on `bus` under the sysfs `root` that measures something we know."""
    directory = root / bus.directory
    try:
        entries = [e for e in directory.iterdir() if e.name.startswith(bus.prefix)]
    except OSError:
        return []
    devices = []
    for entry in sorted(entries, key=lambda e: _index(e, bus.prefix)):
        try:
            name = read_file(entry / bus.name_file).strip()
        except OSError:
            continue
        channels = _channel_files(bus, entry)
        if channels:
            devices.append(Device(bus.kind, name, entry, channels))
    return devices


def _read_number(read_file: ReadFile, path: Path) -> float:
    try:
        text = read_file(path).strip()
    except OSError as exc:
        raise error_from_os(exc, str(path)) from None
    try:
        return float(text)
    except ValueError:
        raise SensorError(f"{path}: {text[:40]!r} is not a number") from None


class SysfsSensor:
    """A device on a bus, looked up by name on first read and again after it vanished."""

    def __init__(
        self, bus: Bus, root: Path, wanted: str = "", read_file: ReadFile = read_attribute
    ) -> None:
        self._bus = bus
        self._root = root
        self._wanted = wanted
        self._read_file = read_file
        self._device: Device | None = None
        # The name of the device last found, kept while it is looked up again after it
        # vanished: its driver's pace (a DHT's 2 s) still applies to the retries.
        self._found: str | None = None
        self._probed = False

    @property
    def kind(self) -> str:
        """The registry name of the bus."""
        return self._bus.kind

    @property
    def name(self) -> str:
        """The device's name once found, else the name being looked for."""
        if self._device is not None:
            return self._device.name
        return self._found or self._wanted or "(first found)"

    @property
    def min_interval(self) -> float:
        """Seconds between reads that the driver needs (2 for a DHT)."""
        if self._device is None and self._found is None and not self._probed:
            # Not read yet: find out which driver it is, so the first retries are paced
            # (once: while the device is missing, each read looks for it anyway).
            self._probed = True
            with contextlib.suppress(SensorError):
                self._use(self.locate())
        return self._bus.min_intervals.get(driver_name(self.name), 0.0)

    def _use(self, device: Device) -> Device:
        self._device, self._found = device, device.name
        return device

    def locate(self) -> Device:
        """Find the device by name (the first one with known channels if no name was given)."""
        devices = list_devices(self._bus, self._root, self._read_file)
        for device in devices:
            if self._wanted:
                if self._wanted in (device.name, driver_name(device.name)):
                    return device
            elif not self._bus.unnamed_needs or self._bus.unnamed_needs in device.quantities:
                return device
        seen = ", ".join(sorted({d.name for d in devices})) or "none"
        wanted = f" named {self._wanted!r}" if self._wanted else ""
        raise SensorError(
            f"no {self._bus.kind} device{wanted} under {self._root / self._bus.directory} "
            f"(found: {seen}); {self._bus.hint}",
            gone=True,
        )

    def read(self) -> Values:
        """Read every channel once, in the unit we send."""
        device = self._device or self._use(self.locate())
        values: Values = {}
        try:
            for channel in device.channels:
                value = _read_number(self._read_file, channel.value)
                if channel.offset is not None:
                    value += _read_number(self._read_file, channel.offset)
                if channel.scale is not None:
                    value *= _read_number(self._read_file, channel.scale)
                # Rounding hides the binary noise of the factor (21500 × 0.001).
                values[channel.quantity] = round(value * channel.factor, 6)
        except SensorError as exc:
            if exc.gone:
                self._device = None  # look it up again next time: it may come back elsewhere
            raise
        return values
