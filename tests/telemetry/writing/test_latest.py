"""Latest values and last-seen times: forward only, last-seen at most once a second."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from app.db import create_session_factory
from app.telemetry import DeviceRef, Devices, Reading
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.transaction import GroupTransaction
from tests.factories import FakeClock, register

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def transaction(engine: Engine) -> Iterator[GroupTransaction]:
    transaction = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    yield transaction
    transaction.close()


def devices(engine: Engine) -> Devices:
    return Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=0)


def post(
    transaction: GroupTransaction, device: DeviceRef, measured: float, received: float, v: float
) -> None:
    reading = Reading(T0 + timedelta(seconds=measured), {"temperature": v})
    transaction.write([WriteRequest(device, [reading], T0 + timedelta(seconds=received))])


def test_a_late_reading_does_not_replace_the_latest_value(
    engine: Engine, transaction: GroupTransaction
) -> None:
    (device,) = register(engine, "greenhouse")
    post(transaction, device, measured=60, received=60, v=21.0)
    post(transaction, device, measured=0, received=61, v=5.0)  # backfilled
    latest = devices(engine).get("greenhouse").latest["temperature"]
    assert (latest.value, latest.measured_at) == (21.0, T0 + timedelta(seconds=60))


def test_last_seen_is_written_at_most_once_a_second_of_received_time(
    engine: Engine, transaction: GroupTransaction
) -> None:
    (device,) = register(engine, "greenhouse")
    post(transaction, device, measured=0, received=0, v=1.0)
    post(transaction, device, measured=1, received=0.5, v=1.0)  # within the second
    assert devices(engine).get("greenhouse").last_seen_at == T0
    post(transaction, device, measured=2, received=1.5, v=1.0)  # a second after the write
    assert devices(engine).get("greenhouse").last_seen_at == T0 + timedelta(seconds=1.5)


def test_devices_posting_in_one_group_each_get_their_last_seen(
    engine: Engine, transaction: GroupTransaction
) -> None:
    a, b = register(engine, "a", "b")
    transaction.write(
        [
            WriteRequest(a, [Reading(T0, {"t": 1.0})], T0 + timedelta(seconds=5)),
            WriteRequest(b, [Reading(T0, {"t": 1.0})], T0 + timedelta(seconds=6)),
            WriteRequest(a, [Reading(T0, {"u": 1.0})], T0 + timedelta(seconds=7)),
        ]
    )
    listed = {d.name: d.last_seen_at for d in devices(engine).list(limit=10)}
    assert listed == {"a": T0 + timedelta(seconds=7), "b": T0 + timedelta(seconds=6)}
