"""The writer's health: down once, up once, and a failed fsync that lasts until restart."""

from __future__ import annotations

import logging

import pytest

from app.telemetry import StorageUnavailable
from app.telemetry.writing.health import WriteHealth
from app.telemetry.writing.wal import SyncFailed
from tests.factories import T0, FakeClock


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refusals_are_logged_once_down_and_once_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.telemetry")
    ticks = Ticks()
    health = WriteHealth(clock=FakeClock(T0), monotonic=ticks)
    assert health.refusal() is None
    for _ in range(3):
        health.failed(StorageUnavailable("the database disk is full", retry_after=60))
    refusal = health.refusal()
    assert refusal is not None
    assert refusal.reason == "failing since 2026-11-21T10:00:00Z: the database disk is full"
    assert refusal.retry_after == 60
    ticks.now = 42.0
    health.succeeded()
    health.succeeded()
    assert health.refusal() is None
    assert [r.getMessage() for r in caplog.records] == [
        "cannot store readings: the database disk is full; ingest answers 503 until the "
        "database recovers (check the disk and the database server)",
        "storing readings again after 42 s of: the database disk is full",
    ]


def test_a_failed_fsync_refuses_writes_even_after_a_success() -> None:
    health = WriteHealth()
    health.poison(SyncFailed("fsync of x-wal failed: the disk is full", retry_after=60))
    health.succeeded()  # a rollup flush, say: no fsync involved
    refusal = health.refusal()
    assert refusal is not None
    assert refusal.reason == (
        "fsync of x-wal failed: the disk is full; the server takes no writes until it is restarted"
    )
    assert health.permanent_refusal() is not None
