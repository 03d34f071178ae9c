"""Storing groups of requests: the duplicate rule, per-request counts, events, limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from app.telemetry import DeviceRef, QuantityLimitExceeded, Reading
from app.telemetry.models import Device
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.transaction import GroupTransaction
from tests.factories import register

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(engine: Engine) -> Iterator[GroupTransaction]:
    store = GroupTransaction(engine, max_quantities_per_device=4)
    yield store
    store.close()


def request(device: DeviceRef, *readings: tuple[int, dict[str, float]]) -> WriteRequest:
    return WriteRequest(
        device,
        [Reading(T0 + timedelta(seconds=s), values) for s, values in readings],
        received_at=T0 + timedelta(minutes=1),
    )


def stored_rows(engine: Engine) -> list[tuple[str, str, datetime, float]]:
    query = sa.text(
        "SELECT d.name, s.quantity, m.measured_at, m.value FROM measurements m "
        "JOIN series s ON s.id = m.series_id JOIN devices d ON d.id = s.device_id "
        "ORDER BY d.name, s.quantity, m.measured_at"
    )
    with engine.connect() as conn:
        return [(row[0], row[1], row[2], row[3]) for row in conn.execute(query)]


def test_a_group_stores_every_value_and_counts_per_request(
    engine: Engine, store: GroupTransaction
) -> None:
    a, b = register(engine, "a", "b")
    outcomes = store.write(
        [
            request(a, (0, {"temperature": 21.5, "humidity": 40.0})),
            request(b, (0, {"temperature": 18.0}), (10, {"temperature": 18.5})),
        ]
    )
    assert [(o.stored, o.duplicates) for o in outcomes] == [(2, 0), (2, 0)]
    assert len(stored_rows(engine)) == 4


def test_a_resend_is_a_duplicate_whatever_its_value(
    engine: Engine, store: GroupTransaction
) -> None:
    (a,) = register(engine, "a")
    store.write([request(a, (0, {"temperature": 21.5}))])
    (outcome,) = store.write([request(a, (0, {"temperature": 99.0}))])
    assert (outcome.stored, outcome.duplicates) == (0, 1)
    assert outcome.events == []
    assert [row[3] for row in stored_rows(engine)] == [21.5]


def test_a_partial_resend_stores_only_the_new_values(
    engine: Engine, store: GroupTransaction
) -> None:
    (a,) = register(engine, "a")
    store.write([request(a, (0, {"temperature": 21.5}))])
    (outcome,) = store.write([request(a, (0, {"temperature": 21.5, "humidity": 40.0}))])
    assert (outcome.stored, outcome.duplicates) == (1, 1)
    assert [dict(e.values) for e in outcome.events] == [{"humidity": 40.0}]


def test_the_same_reading_twice_in_one_group_is_credited_once(
    engine: Engine, store: GroupTransaction
) -> None:
    (a,) = register(engine, "a")
    first, second = store.write(
        [request(a, (0, {"temperature": 21.5})), request(a, (0, {"temperature": 21.5}))]
    )
    assert (first.stored, first.duplicates) == (1, 0)
    assert (second.stored, second.duplicates) == (0, 1)
    assert len(first.events) == 1 and second.events == []
    assert len(stored_rows(engine)) == 1


def test_same_time_on_different_devices_or_quantities_is_not_a_duplicate(
    engine: Engine, store: GroupTransaction
) -> None:
    a, b = register(engine, "a", "b")
    outcomes = store.write(
        [
            request(a, (0, {"temperature": 1.0, "humidity": 2.0})),
            request(b, (0, {"temperature": 1.0})),
        ]
    )
    assert sum(o.stored for o in outcomes) == 3


def test_one_event_per_stored_reading_with_its_values(
    engine: Engine, store: GroupTransaction
) -> None:
    (a,) = register(engine, "a")
    (outcome,) = store.write(
        [request(a, (0, {"temperature": 21.5, "humidity": 40.0}), (10, {"temperature": 21.7}))]
    )
    assert [(e.device, e.device_id, e.measured_at, dict(e.values)) for e in outcome.events] == [
        ("a", a.id, T0, {"temperature": 21.5, "humidity": 40.0}),
        ("a", a.id, T0 + timedelta(seconds=10), {"temperature": 21.7}),
    ]


def test_a_device_past_its_quantity_limit_is_refused_alone(
    engine: Engine, store: GroupTransaction
) -> None:
    a, b = register(engine, "a", "b")
    store.write([request(a, (0, {"q1": 1.0, "q2": 1.0, "q3": 1.0}))])
    greedy, fine = store.write(
        [request(a, (1, {"q1": 2.0, "q4": 2.0, "q5": 2.0})), request(b, (1, {"q1": 1.0}))]
    )
    assert isinstance(greedy.error, QuantityLimitExceeded)
    assert "q4, q5" in str(greedy.error) and "at most 4" in str(greedy.error)
    assert greedy.stored == 0 and greedy.events == []
    assert fine.error is None and fine.stored == 1
    # Nothing of the refused request was stored, not even its known quantity.
    assert len([r for r in stored_rows(engine) if r[0] == "a"]) == 3


def test_last_seen_moves_forward_only(engine: Engine, store: GroupTransaction) -> None:
    (a,) = register(engine, "a")
    later = WriteRequest(
        a, [Reading(T0, {"temperature": 1.0})], received_at=T0 + timedelta(hours=2)
    )
    earlier = WriteRequest(a, [Reading(T0, {"humidity": 1.0})], received_at=T0 + timedelta(hours=1))
    store.write([later])
    # A fresh transaction remembers nothing written: only the database's own rule
    # (never backward) can keep the later time.
    fresh = GroupTransaction(engine, max_quantities_per_device=4)
    try:
        fresh.write([earlier])
    finally:
        fresh.close()
    with engine.connect() as conn:
        seen = conn.execute(sa.select(Device.last_seen_at)).scalar_one()
    assert seen == T0 + timedelta(hours=2)


def test_a_rolled_back_group_stores_nothing_and_creates_no_series(
    engine: Engine, store: GroupTransaction
) -> None:
    (a,) = register(engine, "a")
    store.begin()
    outcomes = store.stage([request(a, (0, {"temperature": 1.0}))])
    assert outcomes[0].stored == 1
    store.rollback()
    assert stored_rows(engine) == []
    # The next group must not reuse a series id from the abandoned transaction.
    (outcome,) = store.write([request(a, (0, {"temperature": 2.0}))])
    assert outcome.stored == 1
    assert [row[3] for row in stored_rows(engine)] == [2.0]


def test_large_groups_are_split_into_statements(engine: Engine, store: GroupTransaction) -> None:
    (a,) = register(engine, "a")
    readings = [(s, {"temperature": float(s % 100)}) for s in range(2500)]
    (outcome,) = store.write([request(a, *readings)])
    assert (outcome.stored, outcome.duplicates) == (2500, 0)
    (again,) = store.write([request(a, *readings[1000:1600], (9999, {"temperature": 1.0}))])
    assert (again.stored, again.duplicates) == (1, 600)
