"""Every device's stored state in a fixed number of statements, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from app.db import create_session_factory
from app.telemetry import Devices, MinuteTotal, Reading
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.transaction import GroupTransaction
from tests.factories import FakeClock, register

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_states_carry_latest_values_recent_minutes_and_the_rhythm(engine: Engine) -> None:
    quiet, busy = register(engine, "quiet", "busy")
    transaction = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    busy_readings = [
        Reading(T0 + MINUTE * m, {"temperature": float(m), "humidity": 50.0}) for m in range(20)
    ]
    # The humidity series is the newest: its last reading is a minute after temperature's.
    busy_readings.append(Reading(T0 + MINUTE * 20, {"humidity": 51.0}))
    transaction.write([WriteRequest(busy, busy_readings, received_at=T0 + MINUTE * 20)])
    transaction.flush_rollups()
    transaction.close()
    devices = Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=0)

    states = devices.states(since=T0 + MINUTE * 18, recent_minutes=3)

    assert [s.name for s in states] == ["busy", "quiet"]
    busy_state, quiet_state = states
    assert (quiet_state.id, quiet_state.quantities, quiet_state.recent_minutes) == (
        quiet.id,
        (),
        (),
    )
    assert busy_state.last_seen_at == T0 + MINUTE * 20
    humidity, temperature = busy_state.quantities
    assert (temperature.name, temperature.unit, temperature.value) == ("temperature", "°C", 19.0)
    assert temperature.measured_at == T0 + MINUTE * 19
    assert temperature.minutes == (
        MinuteTotal(T0 + MINUTE * 18, 18.0, 1, 18.0, 18.0),
        MinuteTotal(T0 + MINUTE * 19, 19.0, 1, 19.0, 19.0),
    )
    assert humidity.value == 51.0
    # The newest series' last three minutes with readings, newest first.
    assert busy_state.recent_minutes == (
        (T0 + MINUTE * 20, 1),
        (T0 + MINUTE * 19, 1),
        (T0 + MINUTE * 18, 1),
    )


def test_a_device_with_fewer_minutes_than_asked_gets_all_of_them(engine: Engine) -> None:
    (device,) = register(engine, "new")
    transaction = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    transaction.write([WriteRequest(device, [Reading(T0, {"t": 1.0})], received_at=T0)])
    transaction.flush_rollups()
    transaction.close()
    devices = Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=0)
    (state,) = devices.states(since=T0, recent_minutes=13)
    assert state.recent_minutes == ((T0, 1),)
