"""The live views' starting point after a restart, read from a database the server wrote."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from app.db import create_db_engine
from app.live.loader import load_views
from app.live.state import Status
from tests.conftest import AppFactory
from tests.factories import FakeClock, add_device, bearer, make_settings

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_a_slow_device_keeps_its_rhythm_across_a_restart(
    make_app: AppFactory, sqlite_url: str
) -> None:
    clock = FakeClock(T0)
    app = make_app(clock=clock)
    with TestClient(app) as client:
        token = add_device(app, "every-5-min")
        for i in range(14):
            if i == 13:
                # Last-seen times are written at most once a second (of real time).
                time.sleep(1.1)
            clock.now = T0 + timedelta(minutes=5 * i)
            body = {"measured_at": clock.now.isoformat(), "values": {"temperature": 20.0 + i}}
            answer = client.post("/api/v1/measurements", json=body, headers=bearer(token))
            assert answer.status_code == 201
    last = clock.now
    engine = create_db_engine(make_settings(sqlite_url))
    try:
        (view,) = load_views(engine, last + timedelta(minutes=4))
    finally:
        engine.dispose()
    assert view.interval == timedelta(minutes=5)
    assert view.quantities["temperature"].value == 33.0
    assert view.status_at(last + timedelta(minutes=4)) is Status.LIVE
    assert view.status_at(last + timedelta(minutes=16)) is Status.LATE
