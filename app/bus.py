"""Publish/subscribe between parts of the server, behind a small interface.

    publisher ── publish(event) ──> Bus ──> Subscription (bounded deque) ──> async for event in sub
                                        └──> Subscription ...

An event is a frozen dataclass with a `topic` class attribute; subscribers ask for an
event class and receive only its instances. Each subscription buffers at most `maxsize`
events; when a subscriber falls behind, the oldest events are dropped and counted
(`Subscription.dropped`), so a slow subscriber never blocks the publisher or the others.
Publishing is a coroutine so that a networked backend (Redis, for several workers) can
implement the same interface; the in-process one below never waits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import ClassVar, Generic, Protocol, TypeVar


class Event(Protocol):
    """Anything with a topic name; in practice a frozen dataclass."""

    topic: ClassVar[str]


E = TypeVar("E", bound=Event)


class SubscriptionClosed(Exception):
    """The subscription was closed; no more events will come."""


class Subscription(Generic[E]):
    """A bounded stream of one event type; iterate it, close it when done."""

    def __init__(self, topic: str, maxsize: int, on_close: _Unsubscribe) -> None:
        self.topic = topic
        self.dropped = 0
        self._items: deque[E] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self._closed = False
        self._on_close = on_close

    def deliver(self, event: E) -> None:
        """Queue an event without waiting; the oldest queued one drops when full."""
        if self._closed:
            return
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(event)
        self._ready.set()

    def pending(self) -> int:
        """How many events are queued."""
        return len(self._items)

    async def get(self) -> E:
        """The next event, waiting for one; raises SubscriptionClosed once closed and empty."""
        while not self._items:
            if self._closed:
                raise SubscriptionClosed(self.topic)
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()

    def close(self) -> None:
        """Stop receiving; a waiting `get` wakes and raises SubscriptionClosed."""
        if not self._closed:
            self._closed = True
            self._on_close(self)
            self._ready.set()

    async def __aiter__(self) -> AsyncIterator[E]:
        try:
            while True:
                yield await self.get()
        except SubscriptionClosed:
            return

    def __enter__(self) -> Subscription[E]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _Unsubscribe(Protocol):
    def __call__(self, subscription: Subscription[E], /) -> None: ...


class Bus(Protocol):
    """What every bus backend offers."""

    async def publish(self, event: Event) -> None:
        """Deliver `event` to the current subscribers of its topic."""

    def subscribe(self, event_type: type[E], *, maxsize: int | None = None) -> Subscription[E]:
        """Receive every `event_type` published from now on."""

    async def aclose(self) -> None:
        """Close every subscription and release the backend."""


class InProcessBus:
    """A bus for one process: delivery is a deque append per subscriber."""

    default_maxsize: ClassVar[int] = 1000

    def __init__(self, *, maxsize: int | None = None) -> None:
        self._maxsize = maxsize or self.default_maxsize
        self._subscribers: dict[str, set[Subscription[Event]]] = {}

    async def publish(self, event: Event) -> None:
        """Deliver `event` to the subscribers of its topic; never waits."""
        for subscription in tuple(self._subscribers.get(event.topic, ())):
            subscription.deliver(event)

    def subscribe(self, event_type: type[E], *, maxsize: int | None = None) -> Subscription[E]:
        """Receive every `event_type` published from now on, at most `maxsize` buffered."""
        subscription: Subscription[E] = Subscription(
            event_type.topic, maxsize or self._maxsize, self._unsubscribe
        )
        self._subscribers.setdefault(event_type.topic, set()).add(subscription)  # type: ignore[arg-type]
        return subscription

    def subscriber_count(self, event_type: type[Event]) -> int:
        """How many subscriptions the topic of `event_type` has."""
        return len(self._subscribers.get(event_type.topic, ()))

    async def aclose(self) -> None:
        """Close every subscription."""
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.close()

    def _unsubscribe(self, subscription: Subscription[E]) -> None:
        subscribers = self._subscribers.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.topic]
