"""What `telemetry-agent status` says of the agent's dependencies: failing, then recovered.

The loops note each dependency's state in the spool when it changes; `status`, another
process, reads it from there. These tests run the loops against the model server, a
fake sysfs tree and a real spool, and ask the real command.
"""

from __future__ import annotations

import errno
import json
import logging
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from device.cli import main
from device.sampler import Sampler
from device.sender import DeliverySettings, Sender
from device.sensors.iio import IIO
from device.sensors.sysfs import SysfsSensor
from device.spool import Spool
from device.status import health_note
from tests.device.fakes import START, FakeClock, FaultyFiles, ModelServer, SysfsTree

SINCE = f"failing since {START:%Y-%m-%dT%H:%M:%SZ}: "


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spool.db"


def _status(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["status", "--spool", str(path), "--json"], {}) == 0
    status: dict[str, Any] = json.loads(capsys.readouterr().out)
    return status


def _sender(spool: Spool, server: ModelServer, clock: FakeClock) -> Sender:
    settings = DeliverySettings(batch_size=10)
    return Sender(spool, server, "token", clock, settings, wait=clock.wait, rng=random.Random(1))


def test_status_shows_delivery_failing_then_delivering_again(
    path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = Spool.open(path)
    spool.add({"temperature": 20.0}, measured_at=START)
    server = ModelServer(now=clock.now)
    server.script = ["refuse", "503"]
    sender = _sender(spool, server, clock)
    assert _status(path, capsys)["health"] == {"delivery": None, "spooling": None}
    sender.step()
    delivery = _status(path, capsys)["health"]["delivery"]
    assert delivery == SINCE + "model refused the connection"
    sender.step()  # a 503: still failing since the first failure, with the latest reason
    assert _status(path, capsys)["health"]["delivery"].startswith(
        SINCE + "http://model.test answered 503"
    )
    clock.advance(30)
    assert sender.step() == 0.0
    assert _status(path, capsys)["health"]["delivery"] == "ok"
    assert main(["status", "--spool", str(path)], {}) == 0
    assert "\ndelivery       ok\n" in capsys.readouterr().out


def test_status_shows_a_refused_token_before_a_passing_trouble(
    path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = Spool.open(path)
    spool.add({"temperature": 20.0}, measured_at=START)
    server = ModelServer(now=clock.now)
    server.script = ["refuse", "401", "refuse"]
    sender = _sender(spool, server, clock)
    for _ in range(3):
        sender.step()
    # The server was unreachable, then refused the token, then unreachable again: what a
    # person has to act on is said first.
    delivery = _status(path, capsys)["health"]["delivery"]
    assert delivery.startswith("failing since 2026-11-21T10:00:01Z: ")  # when the 401 came
    assert "http://model.test refused the token (401" in delivery
    sender.step()
    assert _status(path, capsys)["health"]["delivery"] == "ok"


def test_status_shows_a_sensor_failing_then_recovered(
    tmp_path: Path, path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    SysfsTree(tmp_path).iio(0, "dht11@4", in_temp_input=21500, in_humidityrelative_input=40200)
    files = FaultyFiles()
    sensor = SysfsSensor(IIO, tmp_path, "dht11", files)
    spool = Spool.open(path)
    sampler = Sampler([sensor], spool, clock, interval=30.0, wait=clock.wait)
    files.fail("in_temp_input", *[errno.ETIMEDOUT] * 3)
    sampler.sample(deadline=clock.mono + 30)
    state = _status(path, capsys)["sensors"]["iio"]
    assert state.startswith(f"failing since {clock.now():%Y-%m-%dT%H:%M:%SZ}: dht11@4: ")
    assert "ETIMEDOUT" in state
    clock.advance(30)
    sampler.sample(deadline=clock.mono + 30)
    assert _status(path, capsys)["sensors"] == {"iio": "ok (dht11@4)"}


def test_status_shows_the_spool_full_then_with_room_again(
    path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = Spool.open(path, max_rows=2)
    sensor = SimpleSensor()
    sampler = Sampler([sensor], spool, clock, interval=30.0, wait=clock.wait)
    for _ in range(3):
        sampler.sample(deadline=clock.mono + 30)
        clock.advance(1)
    spooling = _status(path, capsys)["health"]["spooling"]
    assert spooling == SINCE.replace("10:00:00", "10:00:02") + "the spool is full (2 readings)"
    for reading in spool.next_batch(2):
        spool.acknowledge([reading.id], duplicates=0, at=clock.now())
    sampler.sample(deadline=clock.mono + 30)
    assert _status(path, capsys)["health"]["spooling"] == "ok"


def test_a_spool_that_cannot_be_written_is_said_once_and_its_recovery_once(
    path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool.open(path, busy_timeout=0.01)
    sampler = Sampler([SimpleSensor()], spool, clock, interval=30.0, wait=clock.wait)
    blocker = sqlite3.connect(path, isolation_level=None)
    with caplog.at_level(logging.INFO, logger="device.sampler"):
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock: writes fail
        for _ in range(3):
            assert sampler.sample(deadline=clock.mono + 30) == 0
            clock.advance(30)
        blocker.execute("COMMIT")
        assert sampler.sample(deadline=clock.mono + 30) == 1
    blocker.close()
    lines = [r for r in caplog.records if "spool" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.ERROR, logging.INFO]
    assert "cannot write to the spool" in lines[0].getMessage()
    assert "database is locked" in lines[0].getMessage()
    assert "works again after 90 s; 3 reading(s) were lost" in lines[1].getMessage()
    assert spool.status().notes[health_note("spooling")] == "ok"


def test_a_failing_state_left_by_an_earlier_run_is_replaced_at_the_first_success(
    tmp_path: Path, path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    spool = Spool.open(path)
    spool.note(health_note("delivery"), "failing since 2026-01-01T00:00:00Z: killed")
    spool.note(health_note("spooling"), "failing since 2026-01-01T00:00:00Z: killed")
    spool.note("sensor.scripted", "failing since 2026-01-01T00:00:00Z: killed")
    Sampler([SimpleSensor()], spool, clock, interval=30.0, wait=clock.wait).sample(
        deadline=clock.mono + 30
    )
    _sender(spool, ModelServer(now=clock.now), clock).step()
    status = _status(path, capsys)
    assert status["health"] == {"delivery": "ok", "spooling": "ok"}
    assert status["sensors"] == {"scripted": "ok (s)"}


class SimpleSensor:
    """A sensor that always reads 20 °C."""

    kind = "scripted"
    name = "s"
    min_interval = 0.0

    def read(self) -> dict[str, float]:
        return {"temperature": 20.0}
