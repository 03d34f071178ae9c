"""Events of answered groups: published in order, bounded, the oldest dropped and counted."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from app.telemetry import MeasurementInserted
from app.telemetry.writing.announcer import Announcer
from tests.factories import inserted

pytestmark = pytest.mark.anyio


class Publisher:
    """Records what it publishes; holds the first call until released, or fails it."""

    def __init__(self, *, hold: bool = False, fail_first: bool = False) -> None:
        self.published: list[list[MeasurementInserted]] = []
        self.busy = anyio.Event()  # the first call has begun
        self.release = anyio.Event()
        self.done = anyio.Event()
        self.expected = 0
        self.fail_first = fail_first
        if not hold:
            self.release.set()

    async def __call__(self, events: Sequence[MeasurementInserted]) -> None:
        self.busy.set()
        await self.release.wait()
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("a subscriber broke")
        self.published.append(list(events))
        if len(self.published) == self.expected:
            self.done.set()


def group(first: int, size: int = 1) -> list[MeasurementInserted]:
    return [inserted(1, first + i, temperature=float(first + i)) for i in range(size)]


async def test_groups_are_published_in_the_order_they_were_added() -> None:
    publish = Publisher()
    publish.expected = 3
    announcer = Announcer(publish, max_groups=10)
    announcer.start()
    for first in (0, 10, 20):
        announcer.add(group(first, size=2))
    with anyio.fail_after(5):
        await publish.done.wait()
    await announcer.stop()
    assert [[e.values["temperature"] for e in g] for g in publish.published] == [
        [0.0, 1.0],
        [10.0, 11.0],
        [20.0, 21.0],
    ]
    assert announcer.dropped == 0


async def test_past_its_bound_the_oldest_waiting_group_is_dropped_and_counted() -> None:
    publish = Publisher(hold=True)
    announcer = Announcer(publish, max_groups=3)
    announcer.start()
    announcer.add(group(0))  # taken by the publisher, which is stuck on it
    with anyio.fail_after(5):
        await publish.busy.wait()
    for first in (10, 20, 30):  # fills the bound exactly: nothing dropped
        announcer.add(group(first, size=2))
    assert announcer.dropped == 0
    announcer.add(group(40))  # one past it: the oldest waiting group (10) goes
    assert announcer.dropped == 2  # counted in events, as /metrics reports them
    publish.expected = 4
    publish.release.set()
    with anyio.fail_after(5):
        await publish.done.wait()
    await announcer.stop()
    firsts = [g[0].values["temperature"] for g in publish.published]
    assert firsts == [0.0, 20.0, 30.0, 40.0]


async def test_a_failing_publish_does_not_stop_later_announcements(
    caplog: pytest.LogCaptureFixture,
) -> None:
    publish = Publisher(fail_first=True)
    publish.expected = 1
    announcer = Announcer(publish, max_groups=10)
    announcer.start()
    announcer.add(group(0))
    announcer.add(group(10))
    with anyio.fail_after(5):
        await publish.done.wait()
    await announcer.stop()
    assert [g[0].values["temperature"] for g in publish.published] == [10.0]
    assert "publishing 1 events failed" in caplog.text


async def test_stopping_publishes_what_is_queued() -> None:
    publish = Publisher()
    announcer = Announcer(publish, max_groups=10)
    announcer.start()
    announcer.add(group(0))
    announcer.add(group(10))
    await announcer.stop()
    assert len(publish.published) == 2


def test_an_announcer_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Announcer(Publisher(), max_groups=0)
