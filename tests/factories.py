"""Builders the tests share: settings, a hand-moved clock, devices made through the context.

Entities are created through the contexts' public functions, never with raw SQL, so a
test breaks when the door changes rather than silently bypassing it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from app.config import Settings
from app.db import create_session_factory
from app.live.hub import LiveHub
from app.telemetry.devices import DeviceRef, Devices
from app.telemetry.events import MeasurementInserted
from app.telemetry.tokens import hash_token
from app.web.sse_encoding import encode_event
from app.web.templating import Templates

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for tests: generous rate limits unless a test asks otherwise, and the
    dashboard and its metrics open without signing in, so that the tests of what it shows need no
    account; the tests of access (tests/web/test_access.py and others) turn it off."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "public_dashboard": True,
        "metrics_public": True,
        "rate_limit_device": "none",
        "rate_limit_ip": "none",
        "token_cache_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)


def register(engine: Engine, *names: str) -> list[DeviceRef]:
    """Register devices through the devices context; returns their references."""
    devices = Devices(create_session_factory(engine), FakeClock(), token_cache_seconds=0)
    refs = []
    for name in names:
        _, token = devices.add(name)
        ref = devices.authenticate(hash_token(token))
        assert ref is not None
        refs.append(ref)
    return refs


def add_device(app: FastAPI, name: str) -> str:
    """Register a device through the app's devices context; returns its token."""
    _, token = app.state.services.devices.add(name)
    assert isinstance(token, str)
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a device token."""
    return {"Authorization": f"Bearer {token}"}


def make_hub(clock: FakeClock, **overrides: float) -> LiveHub:
    """A hub with small bounds, rendering with the real templates."""
    options: dict[str, float] = {
        "refresh_interval": 1.0,
        "ping_seconds": 15,
        "replay_frames": 64,
        "replay_bytes": 1024 * 1024,
        "queue_frames": 8,
        "backlog_bytes": 256 * 1024,
        "streams_per_client": 5,
        "send_timeout": 10.0,
    } | overrides
    return LiveHub(
        Templates(),
        encode_event,
        clock,
        refresh_interval=options["refresh_interval"],
        ping_seconds=options["ping_seconds"],
        replay_frames=int(options["replay_frames"]),
        replay_bytes=int(options["replay_bytes"]),
        queue_frames=int(options["queue_frames"]),
        backlog_bytes=int(options["backlog_bytes"]),
        streams_per_client=int(options["streams_per_client"]),
        send_timeout=options["send_timeout"],
    )


def inserted(
    device_id: int, seconds: float, name: str | None = None, **values: float
) -> MeasurementInserted:
    """The event of a stored measurement `seconds` after T0."""
    return MeasurementInserted(
        device_id, name or f"pi-{device_id}", T0 + timedelta(seconds=seconds), values
    )
