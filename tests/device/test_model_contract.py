"""The model server (fakes.py) answers as the real server does, so the agent's tests hold.

Each case is a sequence of requests sent, byte for byte, to the model and to the real
server (uvicorn on loopback, the same limits, the same fixed clock, a device of its
own). Both must give the same status; for a success the same stored and duplicate
counts; for a 422 the same error locations, which the sender reads (`loc[2]` names the
measurement to dead-letter). Where they differ, the model is wrong: it follows the
server, never the other way round.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from device.clock import format_time
from device.http import Client, Response
from tests.device.fakes import BATCH, SINGLE, START, IngestLimits, ModelServer
from tests.factories import FakeClock, add_device, make_settings
from tests.servers import LiveServer, run_live_server

LIMITS = IngestLimits(
    max_batch=5,
    max_body_bytes=4096,
    max_values=32,
    max_quantities=6,
    future_tolerance=300,
    retention_days=30,
)
MISSING, UNKNOWN = "missing", "unknown"  # the token a request carries, besides the device's
DEVICES = itertools.count(1)  # each case posts as a device of its own


@dataclass(frozen=True)
class Sent:
    """One request: where, what, and with which token (the device's unless told)."""

    path: str
    body: bytes
    token: str = "device"


def at(seconds: float = 0.0) -> str:
    """A measured_at `seconds` after the servers' clock, as the agent writes it."""
    return format_time(START + timedelta(seconds=seconds))


def batch(*measurements: dict[str, Any], **extra: Any) -> Sent:
    return Sent(BATCH, json.dumps({"measurements": list(measurements), **extra}).encode())


def single(measurement: dict[str, Any]) -> Sent:
    return Sent(SINGLE, json.dumps(measurement).encode())


def reading(when: str | None = "now", /, **values: Any) -> dict[str, Any]:
    values = values or {"temperature": 21.5, "humidity": 40.2}
    if when == "now":
        return {"measured_at": at(), "values": values}
    return {"values": values} if when is None else {"measured_at": when, "values": values}


THREE = (reading(at(1)), reading(at(2)), reading(at(3)))
MANY_VALUES = {f"q{i:02d}": 1.0 for i in range(LIMITS.max_values + 1)}
MANY_ERRORS = [reading(at(i), **{f"v{j}": 1e400 for j in range(11)}) for i in range(5)]

CASES: dict[str, list[Sent]] = {
    "one measurement": [single(reading())],
    "one measurement again": [single(reading()), single(reading())],
    "a batch": [batch(*THREE)],
    "a batch resent whole": [batch(*THREE), batch(*THREE)],
    "a batch resent in part": [batch(*THREE[:2]), batch(*THREE)],
    "a batch repeating one reading": [batch(reading(at(1)), reading(at(1)))],
    "the same instant spelt otherwise": [
        single(reading("2026-11-21T10:00:00Z")),
        single(reading("2026-11-21T11:00:00.000000+01:00")),
    ],
    "no measured_at: the server's time": [single(reading(None)), batch(reading(None))],
    "measured_at null": [batch({"measured_at": None, "values": {"temperature": 1.0}})],
    "an implausible value, then the rest": [
        batch(THREE[0], reading(at(2), humidity=140.0), THREE[2]),
        batch(THREE[0], THREE[2]),
    ],
    "an implausible value alone": [single(reading(cpu_temperature=126.0))],
    "the plausible range's ends": [single(reading(temperature=-90.0, humidity=100.0))],
    "not finite": [Sent(BATCH, b'{"measurements":[{"values":{"temperature":NaN}}]}')],
    "a number too large to be one": [batch(reading(temperature=1e400))],
    "a value that is text": [batch(reading(temperature="21.5"))],
    "a value that is a boolean": [batch(reading(temperature=True))],
    "a whole number": [batch(reading(temperature=21))],
    "an unknown field in a measurement": [batch({**reading(), "unit": "C"})],
    "an unknown field in the batch": [batch(*THREE, device="pi")],
    "an unknown field in a single": [single({**reading(), "device": "pi"})],
    "a quantity of our own": [single(reading(soil_moisture=31.0))],
    "a quantity name that is not one": [single(reading(**{"Soil Moisture": 31.0}))],
    "too many values": [single(reading(**MANY_VALUES))],
    "more quantities than a device may have": [
        single(reading(at(1), a=1.0, b=2.0, c=3.0, d=4.0, e=5.0)),
        single(reading(at(2), a=1.0, f=6.0)),
        single(reading(at(3), g=7.0, h=8.0)),
    ],
    "a batch at the size limit": [batch(*(reading(at(i)) for i in range(LIMITS.max_batch)))],
    "a batch over the size limit": [batch(*(reading(at(i)) for i in range(LIMITS.max_batch + 1)))],
    "a body over the byte limit": [single(reading(note="x" * LIMITS.max_body_bytes))],
    "an empty batch": [batch()],
    "no values": [batch(reading(**{"x": 1.0}) | {"values": {}})],
    "values missing": [batch({"measured_at": at()})],
    "a measurement that is not an object": [Sent(BATCH, b'{"measurements":[5]}')],
    "measurements that are not a list": [Sent(BATCH, b'{"measurements":{}}')],
    "a single that is not an object": [Sent(SINGLE, b"[]")],
    "the future tolerance's end, and past it": [
        single(reading(at(LIMITS.future_tolerance))),
        single(reading(at(LIMITS.future_tolerance + 1))),
    ],
    "before 2000": [single(reading("1999-12-31T23:59:59Z"))],
    "older than the raw readings kept": [
        single(reading(at(-86_400 * (LIMITS.retention_days - 1)))),
        single(reading(at(-86_400 * (LIMITS.retention_days + 1)))),
    ],
    "a time without a zone": [single(reading("2026-11-21T10:00:00"))],
    "not a time": [batch(reading("yesterday")), batch(reading("2026-11-21"))],
    "a time that is a number": [batch({"measured_at": 1763719200, "values": {"t": 1.0}})],
    "errors past the reporting bound": [batch(*MANY_ERRORS)],
    "no token": [Sent(BATCH, batch(*THREE).body, MISSING)],
    "an unknown token": [Sent(BATCH, batch(*THREE).body, UNKNOWN)],
    "an unknown token and a bad body": [Sent(BATCH, b"{", UNKNOWN)],
    "not JSON": [Sent(BATCH, b'{"measurements": [')],
    "an empty body": [Sent(SINGLE, b"")],
}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, _migrated_sqlite_template: Path
) -> Iterator[LiveServer]:
    path = tmp_path_factory.mktemp("contract") / "telemetry.db"
    shutil.copy(_migrated_sqlite_template, path)
    settings = make_settings(
        f"sqlite:///{path}",
        max_batch_size=LIMITS.max_batch,
        max_body_bytes=LIMITS.max_body_bytes,
        max_values_per_measurement=LIMITS.max_values,
        max_quantities_per_device=LIMITS.max_quantities,
        future_tolerance_seconds=int(LIMITS.future_tolerance),
        raw_retention_days=LIMITS.retention_days,
    )
    with run_live_server(settings, clock=FakeClock(START)) as live:
        yield live


def _headers(sent: Sent, token: str) -> dict[str, str]:
    chosen = {"device": token, MISSING: None, UNKNOWN: "tlm_" + "x" * 43}[sent.token]
    return {"Authorization": f"Bearer {chosen}"} if chosen else {}


def _outcome(answer: Response) -> tuple[int, Any]:
    """What must agree: the status, and the counts or the error locations."""
    body = json.loads(answer.body) if answer.body else None
    if answer.status in (200, 201):
        return answer.status, body
    if answer.status == 422 and isinstance(body, dict) and isinstance(body["detail"], list):
        return answer.status, [error["loc"] for error in body["detail"]]
    return answer.status, None


@pytest.mark.parametrize("requests", CASES.values(), ids=CASES.keys())
def test_the_model_answers_as_the_server_does(server: LiveServer, requests: list[Sent]) -> None:
    token = add_device(server.app, f"contract-{next(DEVICES)}")
    model = ModelServer(now=lambda: START, limits=LIMITS, tokens={token})
    real = Client(server.url, timeout=10, user_agent="contract-test")
    try:
        for number, sent in enumerate(requests, 1):
            headers = _headers(sent, token)
            expected = _outcome(real.post_json(sent.path, sent.body, headers))
            assert _outcome(model.post_json(sent.path, sent.body, headers)) == expected, (
                f"request {number} of {len(requests)}"
            )
    finally:
        real.close()
