"""The live views' starting point after a restart, read from a database the server wrote."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from app.db import create_db_engine, create_session_factory
from app.live.loader import devices_after, load_views
from app.live.state import Status
from app.telemetry import Devices
from tests.conftest import AppFactory
from tests.factories import FakeClock, add_device, bearer, make_settings, register

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = create_db_engine(make_settings(sqlite_url))
    yield engine
    engine.dispose()


def devices_of(engine: Engine) -> Devices:
    return Devices(create_session_factory(engine), FakeClock(T0), token_cache_seconds=0)


def post_every(client: TestClient, clock: FakeClock, token: str, minutes: int, count: int) -> None:
    """`count` readings `minutes` apart, each received when it was measured."""
    for i in range(count):
        clock.now = T0 + timedelta(minutes=minutes * i)
        body = {"measured_at": clock.now.isoformat(), "values": {"temperature": 20.0 + i}}
        answer = client.post("/api/v1/measurements", json=body, headers=bearer(token))
        assert answer.status_code == 201


def test_a_slow_device_keeps_its_rhythm_across_a_restart(
    make_app: AppFactory, engine: Engine
) -> None:
    clock = FakeClock(T0)
    app = make_app(clock=clock)
    with TestClient(app) as client:
        post_every(client, clock, add_device(app, "every-5-min"), minutes=5, count=14)
    last = clock.now
    (view,) = load_views(devices_of(engine), last + timedelta(minutes=4))
    assert view.interval == timedelta(minutes=5)
    assert view.quantities["temperature"].value == 33.0
    assert view.heard_at == last
    assert view.status_at(last + timedelta(minutes=4)) is Status.LIVE
    assert view.status_at(last + timedelta(minutes=16)) is Status.LATE


def test_the_sparkline_starts_from_the_stored_minutes(make_app: AppFactory, engine: Engine) -> None:
    clock = FakeClock(T0)
    app = make_app(clock=clock)
    with TestClient(app) as client:
        post_every(client, clock, add_device(app, "shed"), minutes=1, count=3)
    (view,) = load_views(devices_of(engine), T0 + timedelta(minutes=2, seconds=30))
    points = view.quantities["temperature"].sparkline(T0 + timedelta(minutes=2, seconds=30))
    assert points[-3:] == [20.0, 21.0, 22.0]
    assert points[:-3] == [None] * (len(points) - 3)


def test_a_device_that_never_posted_is_loaded_without_values(engine: Engine) -> None:
    register(engine, "new-pi")
    (view,) = load_views(devices_of(engine), T0)
    assert (view.name, view.quantities, view.status_at(T0)) == ("new-pi", {}, Status.NEVER)


def test_devices_registered_later_are_found_by_id(engine: Engine) -> None:
    first, second, third = register(engine, "a", "b", "c")
    assert devices_after(devices_of(engine), first.id) == [
        (second.id, "b"),
        (third.id, "c"),
    ]
    assert devices_after(devices_of(engine), third.id) == []


def post_twice(client: TestClient, clock: FakeClock, token: str) -> None:
    """Two readings of two quantities, in consecutive minutes."""
    for seconds in (0, 70):
        clock.now = T0 + timedelta(seconds=seconds)
        body = {"measured_at": clock.now.isoformat(), "values": {"t": 1.0, "h": 2.0}}
        answer = client.post("/api/v1/measurements", json=body, headers=bearer(token))
        assert answer.status_code == 201


def statements_to_load(engine: Engine, devices: int) -> int:
    """Statements load_views runs, checking it found every device's rhythm."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        views = load_views(devices_of(engine), T0 + timedelta(minutes=5))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(views) == devices
    assert all(list(view.gaps) == [60.0] for view in views)  # one minute apart
    return len(statements)


def test_loading_takes_as_many_statements_for_fifty_devices_as_for_one(
    make_app: AppFactory, engine: Engine
) -> None:
    clock = FakeClock(T0)
    app = make_app(clock=clock)
    with TestClient(app) as client:
        post_twice(client, clock, add_device(app, "pi-000"))
    for_one = statements_to_load(engine, 1)
    app = make_app(clock=clock)
    with TestClient(app) as client:
        for n in range(1, 50):
            post_twice(client, clock, add_device(app, f"pi-{n:03}"))
    assert statements_to_load(engine, 50) == for_one
