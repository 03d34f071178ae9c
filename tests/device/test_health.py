"""DependencyHealth: one log line down, one up, and the state in between."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from device.health import DependencyHealth


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(ticks: Ticks, changes: list[bool] | None = None) -> DependencyHealth:
    return DependencyHealth(
        logging.getLogger("test.health"),
        down="the disk is failing: {reason}",
        up="the disk works again after {seconds:.0f} s and {failures} failures ({reason})",
        on_change=(lambda h: changes.append(h.down)) if changes is not None else None,
        monotonic=ticks,
        wall=lambda: datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
    )


def test_a_thousand_failures_log_once_down_and_once_up(caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    health = make(ticks)
    caplog.set_level(logging.INFO, "test.health")
    assert health.failed("no space left") is True
    for _ in range(999):
        assert health.failed("no space left") is False
    ticks.now += 42
    assert health.succeeded() is True
    assert health.succeeded() is False
    assert [r.getMessage() for r in caplog.records] == [
        "the disk is failing: no space left",
        "the disk works again after 42 s and 1000 failures (no space left)",
    ]
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]


def _state(health: DependencyHealth) -> tuple[bool, str | None, float | None, int]:
    return health.down, health.reason, health.since, health.failures


def test_state_says_what_failed_since_when_until_it_recovers() -> None:
    ticks = Ticks()
    changes: list[bool] = []
    health = make(ticks, changes)
    assert (health.down, health.describe()) == (False, "ok")
    health.failed("first")
    health.failed("latest")
    assert health.down
    assert health.reason == "latest"
    assert health.failures == 2
    assert health.since == 100.0
    assert health.describe() == "failing since 2026-12-01T08:00:00Z: latest"
    health.succeeded()
    assert _state(health) == (False, None, None, 0)
    assert changes == [True, False]  # told of each change, not of each failure
