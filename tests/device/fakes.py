"""Stand-ins at the edge of the process: the clock, the sysfs tree, and a model ingest server."""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from device.clock import format_time
from device.http import Response, TransportError
from device.sensors.sysfs import read_attribute

START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class FakeClock:
    """Wall, monotonic and boot clocks that move only when told (or when waited on)."""

    def __init__(
        self,
        start: datetime = START,
        *,
        uptime: float = 3600.0,
        boot_id: str = "boot-1",
        synced: bool | None = True,
    ) -> None:
        self.wall = start
        self.mono = 1000.0
        self.boot = uptime
        self.boot_name = boot_id
        self.synced = synced
        self.waits: list[float] = []

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def boottime(self) -> float:
        return self.boot

    def boot_id(self) -> str:
        return self.boot_name

    def synchronized(self) -> bool | None:
        return self.synced

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds
        self.boot += seconds

    def wait(self, seconds: float) -> bool:
        """A wait that passes the time at once and never asks to stop."""
        self.waits.append(seconds)
        self.advance(seconds)
        return False


class SysfsTree:
    """A temporary directory laid out like /sys, with the files the kernel drivers create."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _device(self, link_dir: str, entry: str, target: str, files: Mapping[str, object]) -> Path:
        # Like the kernel: the class or bus entry is a symlink to the device's directory.
        real = self.root / "sys/devices/platform" / target / entry
        real.mkdir(parents=True)
        for name, value in files.items():
            (real / name).write_text(f"{value}\n")
        link = self.root / link_dir / entry
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real)
        return link

    def iio(self, index: int, name: str, **files: object) -> Path:
        return self._device(
            "sys/bus/iio/devices", f"iio:device{index}", name, {"name": name, **files}
        )

    def hwmon(self, index: int, name: str, **files: object) -> Path:
        return self._device("sys/class/hwmon", f"hwmon{index}", name, {"name": name, **files})

    def thermal(self, index: int, kind: str, temp: int) -> Path:
        return self._device(
            "sys/class/thermal", f"thermal_zone{index}", kind, {"type": kind, "temp": temp}
        )

    @staticmethod
    def write(device: Path, name: str, value: object) -> None:
        (device / name).write_text(f"{value}\n")


class FaultyFiles:
    """Reads the real files, but fails the next reads of chosen files with an errno."""

    def __init__(self) -> None:
        self.faults: dict[str, list[int]] = {}
        self.reads: list[Path] = []

    def fail(self, file_name: str, *codes: int) -> None:
        self.faults.setdefault(file_name, []).extend(codes)

    def __call__(self, path: Path) -> str:
        self.reads.append(path)
        queue = self.faults.get(path.name)
        if queue:
            code = queue.pop(0)
            raise OSError(code, os.strerror(code), str(path))
        return read_attribute(path)


# What the model checks, with the server's defaults (app/config.py); the contract test
# (test_model_contract.py) runs the model and a real server with the same values.
@dataclass(frozen=True)
class IngestLimits:
    """The server settings the ingest rules depend on."""

    max_batch: int = 1000  # TELEMETRY_MAX_BATCH_SIZE
    max_body_bytes: int = 1024 * 1024  # TELEMETRY_MAX_BODY_BYTES
    max_values: int = 32  # TELEMETRY_MAX_VALUES_PER_MEASUREMENT
    max_quantities: int = 64  # TELEMETRY_MAX_QUANTITIES_PER_DEVICE
    future_tolerance: float = 300.0  # TELEMETRY_FUTURE_TOLERANCE_SECONDS
    retention_days: int = 30  # TELEMETRY_RAW_RETENTION_DAYS


RANGES = {
    "temperature": (-90.0, 150.0),
    "humidity": (0.0, 100.0),
    "pressure": (300.0, 1100.0),
    "cpu_temperature": (-40.0, 125.0),
}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_ERRORS = 50  # the server reports at most this many problems
SINGLE = "/api/v1/measurements"
BATCH = "/api/v1/measurements/batch"
Loc = list[str | int]
Problem = tuple[Loc, str]  # where, and what is wrong


class Refusal(Exception):
    """The model refuses a request: the status and body the server would answer."""

    def __init__(self, status: int, body: object, headers: Mapping[str, str] | None = None):
        super().__init__(status)
        self.answer = _answer(status, body, headers)


class ModelServer:
    """The ingest contract in memory, for one device; test_model_contract.py holds it to the
    real server's answers.

    Order of refusal, as the server's: token (401), body size (413), JSON (400), shape
    (422 with pydantic's locations), batch length (422 too_long), domain rules (422:
    measured_at, number of values, quantity names, finite and plausible values), then the
    quantities a device may have (422 at loc body.values). Values are deduplicated on
    (measured_at, quantity) whatever the text of the time; an absent time is `now`.

    Each request takes the next outcome from `script` (then "ok"):
    ok, refuse (no answer, nothing stored), commit_then_timeout (stored, no answer),
    429, 503, 500 (nothing stored), 401.
    """

    base_url = "http://model.test"

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = lambda: START,
        limits: IngestLimits = IngestLimits(),
        tokens: Collection[str] = ("token",),
        max_batch: int | None = None,
        retry_after: int = 7,
    ) -> None:
        self.script: list[str] = []
        self.now = now
        self.limits = limits if max_batch is None else replace(limits, max_batch=max_batch)
        self.tokens = set(tokens)
        self.retry_after = retry_after
        self.stored: dict[tuple[str, str], float] = {}
        self.store_count: Counter[tuple[str, str]] = Counter()
        self.batches: list[list[str]] = []
        self.outcomes: list[str] = []
        self.duplicates_answered = 0

    def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        assert path in (SINGLE, BATCH), path
        outcome = self.script.pop(0) if self.script else "ok"
        self.outcomes.append(outcome)
        # The scripted failures come where the server's would: the network and the rate
        # limit before anything is read, the database after the body was checked.
        if outcome == "refuse":
            raise TransportError("model refused the connection")
        if outcome == "429":
            return _answer(429, {"detail": "later"}, {"retry-after": str(self.retry_after)})
        if outcome == "401":
            return _answer(401, {"detail": "unknown token"}, {"www-authenticate": "Bearer"})
        try:
            measurements = self._admit(path, body, headers)
        except Refusal as refusal:
            return refusal.answer
        self.batches.append([m.get("measured_at") or "" for m in measurements])
        if outcome == "503":
            return _answer(503, {"detail": "later"}, {"retry-after": str(self.retry_after)})
        if outcome == "500":
            return _answer(500, {"detail": "boom"})
        try:
            readings = self._readings(path, measurements)
            self._check_quantities(readings)
        except Refusal as refusal:
            return refusal.answer
        stored, duplicates = self._store(readings)
        if outcome == "commit_then_timeout":
            raise TransportError("model did not answer within 10 s")
        self.duplicates_answered += duplicates
        return _answer(201 if stored else 200, {"stored": stored, "duplicates": duplicates})

    def _admit(self, path: str, body: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
        """The measurements of a request that passed the token, size, JSON and shape."""
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            raise Refusal(401, {"detail": "unknown token"}, {"www-authenticate": "Bearer"})
        if len(body) > self.limits.max_body_bytes:
            raise Refusal(413, {"detail": "the request body is too large"})
        if not body.strip():
            raise Refusal(400, {"detail": "the request body is empty"})
        try:
            data = json.loads(body)
        except ValueError:
            raise Refusal(400, {"detail": "the body is not valid JSON"}) from None
        errors: list[Problem] = []
        measurements: Any = None
        if path == SINGLE:
            _check_measurement(data, [], errors)
            measurements = [data]
        elif not isinstance(data, dict):
            errors.append(([], "must be an object"))
        else:
            errors += [([key], "is not a known field") for key in data if key != "measurements"]
            measurements = data.get("measurements")
            if not isinstance(measurements, list) or not measurements:
                errors.append((["measurements"], "must be a list of at least one"))
            else:
                for index, item in enumerate(measurements):
                    _check_measurement(item, ["measurements", index], errors)
        if errors:
            raise _invalid((["body", *loc], msg) for loc, msg in errors)
        if len(measurements) > self.limits.max_batch:
            raise Refusal(
                422,
                {
                    "detail": [
                        {"loc": ["body", "measurements"], "msg": "too long", "type": "too_long"}
                    ]
                },
            )
        return list(measurements)

    def _readings(
        self, path: str, measurements: list[dict[str, Any]]
    ) -> list[tuple[datetime, dict[str, float]]]:
        """Each measurement's time and values, or a 422 naming every domain error."""
        now, limits = self.now(), self.limits
        latest = now + timedelta(seconds=limits.future_tolerance)
        oldest = max(now - timedelta(days=limits.retention_days), EARLIEST)
        errors: list[Problem] = []
        readings = []
        for index, item in enumerate(measurements):
            where: Loc = ["body"] if path == SINGLE else ["body", "measurements", index]
            text = item.get("measured_at")
            at = datetime.fromisoformat(text) if text else now
            if at.tzinfo is None or not oldest <= at <= latest:
                errors.append(([*where, "measured_at"], "out of range"))
            values = item["values"]
            if len(values) > limits.max_values:
                errors.append(([*where, "values"], "too many values"))
            for name, value in values.items():
                bounds = RANGES.get(name)
                if (
                    (bounds is None and not NAME.fullmatch(name))
                    or not math.isfinite(value)
                    or (bounds is not None and not bounds[0] <= value <= bounds[1])
                ):
                    errors.append(([*where, "values", name], "out of range"))
            readings.append((at, {name: float(value) for name, value in values.items()}))
        if errors:
            raise _invalid(errors)
        return readings

    def _check_quantities(self, readings: list[tuple[datetime, dict[str, float]]]) -> None:
        known = {quantity for _, quantity in self.stored}
        new = {q for _, values in readings for q in values} - known
        if new and len(known) + len(new) > self.limits.max_quantities:
            raise _invalid([(["body", "values"], "too many quantities")])

    def _store(self, readings: list[tuple[datetime, dict[str, float]]]) -> tuple[int, int]:
        stored = duplicates = 0
        for at, values in readings:
            for quantity, value in values.items():
                key = (format_time(at), quantity)
                if key in self.stored:
                    duplicates += 1
                else:
                    self.stored[key] = value
                    self.store_count[key] += 1
                    stored += 1
        return stored, duplicates


def _check_measurement(item: object, where: Loc, errors: list[Problem]) -> None:
    """The shape pydantic checks (app/web/api_models.py), with its error locations."""
    if not isinstance(item, dict):
        errors.append((where, "must be an object"))
        return
    extra = [key for key in item if key not in ("measured_at", "values")]
    errors += [([*where, key], "is not a known field") for key in extra]
    at = item.get("measured_at")
    if at is not None and not (isinstance(at, str) and _parses(at)):
        errors.append(([*where, "measured_at"], "must be an RFC 3339 time"))
    values = item.get("values")
    if not isinstance(values, dict) or not values:
        errors.append(([*where, "values"], "must be an object of at least one value"))
        return
    errors += [
        ([*where, "values", name], "must be a number")
        for name, value in values.items()
        if isinstance(value, bool) or not isinstance(value, int | float)
    ]


def _parses(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _invalid(problems: Iterable[Problem]) -> Refusal:
    detail = [{"loc": loc, "msg": msg, "type": "invalid"} for loc, msg in problems]
    return Refusal(422, {"detail": detail[:MAX_ERRORS]})


def _answer(status: int, body: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, dict(headers or {}), json.dumps(body).encode())
