"""Stand-ins at the edge of the process: the clock, the sysfs tree, and a model ingest server."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


RANGES = {"temperature": (-90.0, 150.0), "humidity": (0.0, 100.0), "pressure": (300.0, 1100.0)}


class ModelServer:
    """The ingest contract in memory: dedup on (measured_at, quantity), 422 with loc, 413.

    Each request takes the next outcome from `script` (then "ok"):
    ok, refuse (no answer, nothing stored), commit_then_timeout (stored, no answer),
    429, 503, 500 (nothing stored), 401.
    """

    base_url = "http://model.test"

    def __init__(self, *, max_batch: int = 1000, retry_after: int = 7) -> None:
        self.script: list[str] = []
        self.max_batch = max_batch
        self.retry_after = retry_after
        self.stored: dict[tuple[str, str], float] = {}
        self.store_count: Counter[tuple[str, str]] = Counter()
        self.batches: list[list[str]] = []
        self.outcomes: list[str] = []
        self.duplicates_answered = 0

    def post_json(self, path: str, body: bytes, headers: Mapping[str, str]) -> Response:
        assert path == "/api/v1/measurements/batch"
        assert headers["Authorization"].startswith("Bearer ")
        outcome = self.script.pop(0) if self.script else "ok"
        self.outcomes.append(outcome)
        measurements = json.loads(body)["measurements"]
        self.batches.append([m["measured_at"] for m in measurements])
        if outcome == "refuse":
            raise TransportError("model refused the connection")
        if outcome in ("429", "503"):
            return _answer(
                int(outcome), {"detail": "later"}, {"retry-after": str(self.retry_after)}
            )
        if outcome == "500":
            return _answer(500, {"detail": "boom"})
        if outcome == "401":
            return _answer(401, {"detail": "unknown token"}, {"www-authenticate": "Bearer"})
        if len(measurements) > self.max_batch:
            return _answer(413, {"detail": "the request body is too large"})
        errors = [
            {"loc": ["body", "measurements", i, "values", q], "msg": "out of range", "type": "x"}
            for i, m in enumerate(measurements)
            for q, v in m["values"].items()
            if not math.isfinite(v) or (q in RANGES and not RANGES[q][0] <= v <= RANGES[q][1])
        ]
        if errors:
            return _answer(422, {"detail": errors})
        stored = duplicates = 0
        for m in measurements:
            for quantity, value in m["values"].items():
                key = (m["measured_at"], quantity)
                if key in self.stored:
                    duplicates += 1
                else:
                    self.stored[key] = value
                    self.store_count[key] += 1
                    stored += 1
        if outcome == "commit_then_timeout":
            raise TransportError("model did not answer within 10 s")
        self.duplicates_answered += duplicates
        return _answer(201 if stored else 200, {"stored": stored, "duplicates": duplicates})


def _answer(status: int, body: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, dict(headers or {}), json.dumps(body).encode())
