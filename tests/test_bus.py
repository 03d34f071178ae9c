"""The in-process bus: typed topics, bounded queues, clean closing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import anyio
import pytest

from app.bus import InProcessBus, Subscription


@dataclass(frozen=True)
class Ping:
    topic: ClassVar[str] = "ping"
    n: int


@dataclass(frozen=True)
class Pong:
    topic: ClassVar[str] = "pong"
    n: int


pytestmark = pytest.mark.anyio


async def test_subscribers_receive_only_their_topic_in_order() -> None:
    bus = InProcessBus()
    pings = bus.subscribe(Ping)
    pongs = bus.subscribe(Pong)
    await bus.publish(Ping(1))
    await bus.publish(Pong(2))
    await bus.publish(Ping(3))
    assert [await pings.get(), await pings.get()] == [Ping(1), Ping(3)]
    assert await pongs.get() == Pong(2)
    assert pings.pending() == 0


async def test_every_subscriber_gets_each_event() -> None:
    bus = InProcessBus()
    first, second = bus.subscribe(Ping), bus.subscribe(Ping)
    await bus.publish(Ping(1))
    assert await first.get() == await second.get() == Ping(1)


async def test_events_before_subscribing_are_not_delivered() -> None:
    bus = InProcessBus()
    await bus.publish(Ping(1))
    late = bus.subscribe(Ping)
    await bus.publish(Ping(2))
    assert await late.get() == Ping(2)


async def test_a_full_subscription_drops_the_oldest_and_counts_them() -> None:
    bus = InProcessBus()
    slow = bus.subscribe(Ping, maxsize=3)
    for n in range(10):
        await bus.publish(Ping(n))
    assert slow.dropped == 7
    assert [await slow.get() for _ in range(3)] == [Ping(7), Ping(8), Ping(9)]


async def test_a_slow_subscriber_does_not_slow_others() -> None:
    bus = InProcessBus()
    slow = bus.subscribe(Ping, maxsize=1)
    fast = bus.subscribe(Ping, maxsize=100)
    for n in range(50):
        await bus.publish(Ping(n))
    assert fast.pending() == 50
    assert slow.pending() == 1


async def test_closing_wakes_a_waiting_iterator_and_ends_it() -> None:
    bus = InProcessBus()
    subscription = bus.subscribe(Ping)
    received: list[Ping] = []

    async def consume() -> None:
        received.extend([event async for event in subscription])

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(consume)
        await bus.publish(Ping(1))
        await anyio.sleep(0.01)
        subscription.close()
    assert received == [Ping(1)]
    assert bus.subscriber_count(Ping) == 0


async def test_a_closed_subscription_receives_nothing_more() -> None:
    bus = InProcessBus()
    with bus.subscribe(Ping) as subscription:
        pass
    await bus.publish(Ping(1))
    assert subscription.pending() == 0
    assert bus.subscriber_count(Ping) == 0


async def test_aclose_closes_every_subscription() -> None:
    bus = InProcessBus()
    subscriptions: list[Subscription[Any]] = [bus.subscribe(Ping), bus.subscribe(Pong)]
    await bus.aclose()
    for subscription in subscriptions:
        assert [event async for event in subscription] == []
