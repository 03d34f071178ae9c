"""The open streams, by topic: who watches what, how many per client, and what lingers.

A topic is watched while a stream is open on it, and for LINGER after its last stream
ended, so that a browser reconnecting after a network blip can still be replayed what
it missed; the hub renders only the topics watched. Every stream is pinged, timed out
and ended from here, in one pass for all of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.live.viewers import Viewer, http_chunk
from app.telemetry import Clock

LINGER = timedelta(seconds=30)  # a topic stays watched this long after its last stream
PING = b": ping\n\n"
PING_CHUNK = http_chunk(PING)


class TooManyStreams(Exception):
    """A client holds as many live streams as it may."""


@dataclass(slots=True)
class HubStats:
    """Counters for metrics and tests."""

    ticks: int = 0
    renders: int = 0
    frames: int = 0
    viewers_dropped: int = 0


class Streams:
    """Viewers by topic, bounded per client."""

    def __init__(self, clock: Clock, stats: HubStats, *, streams_per_client: int) -> None:
        self._clock = clock
        self._stats = stats
        self._streams_per_client = streams_per_client
        self._topics: dict[str, set[Viewer]] = {}
        self._lingering: dict[str, datetime] = {}  # topic -> until when it stays watched
        self._per_client: Counter[str] = Counter()

    def check_room(self, client: str) -> None:
        """Raise TooManyStreams if `client` may open no more streams."""
        if self._per_client[client] >= self._streams_per_client:
            raise TooManyStreams(
                f"this client already holds {self._streams_per_client} live streams; "
                "close some tabs (TELEMETRY_SSE_STREAMS_PER_CLIENT)"
            )

    def add(self, viewer: Viewer) -> None:
        """Register a stream (primed already)."""
        self._topics.setdefault(viewer.topic, set()).add(viewer)
        self._lingering.pop(viewer.topic, None)
        self._per_client[viewer.client] += 1

    def remove(self, viewer: Viewer) -> None:
        """Forget a stream that ended; its topic lingers if it was the last."""
        viewers = self._topics.get(viewer.topic)
        if viewers is None or viewer not in viewers:
            return
        viewers.discard(viewer)
        self._per_client[viewer.client] -= 1
        if self._per_client[viewer.client] <= 0:
            del self._per_client[viewer.client]
        if not viewers:
            del self._topics[viewer.topic]
            self._lingering[viewer.topic] = self._clock() + LINGER

    def watched(self, topic: str) -> bool:
        """True while a stream is open on `topic`, or was within LINGER."""
        return topic in self._topics or topic in self._lingering

    def end_lingering(self, now: datetime) -> list[str]:
        """Stop watching the topics whose linger is over; returns them."""
        ended = [topic for topic, until in self._lingering.items() if until <= now]
        for topic in ended:
            del self._lingering[topic]
        return ended

    def send(self, topic: str, blob: bytes) -> None:
        """The same bytes to every stream of `topic`; one that is too far behind ends."""
        chunk = http_chunk(blob)  # framed once for all the wired streams
        for viewer in list(self._topics.get(topic, ())):
            if not viewer.push(blob, chunk):
                self._drop(viewer)

    def ping(self) -> None:
        """A comment to every stream, so that idle proxies keep them open."""
        for viewers in list(self._topics.values()):
            for viewer in list(viewers):
                if not viewer.push(PING, PING_CHUNK):
                    self._drop(viewer)

    def drop_stalled(self, deadline: float) -> int:
        """End every stream whose current write began before `deadline` (loop time).

        One pass for all streams, instead of a timer around every write of every stream:
        at thousands of viewers that timer was a tenth of the cost of a delivery.
        """
        stalled = [
            viewer
            for viewers in self._topics.values()
            for viewer in viewers
            if viewer.write_waiting() and viewer.sending_since < deadline
        ]
        for viewer in stalled:
            self._stats.viewers_dropped += 1
            viewer.stall()
            self.remove(viewer)
        return len(stalled)

    def close_all(self) -> None:
        """End every stream (their browsers reconnect to the next server)."""
        for viewers in list(self._topics.values()):
            for viewer in list(viewers):
                viewer.close()

    def count(self) -> int:
        """Open streams."""
        return sum(len(v) for v in self._topics.values())

    def count_wired(self) -> int:
        """Open streams written straight to their sockets (see viewers.py)."""
        return sum(viewer.wired for viewers in self._topics.values() for viewer in viewers)

    def _drop(self, viewer: Viewer) -> None:
        if viewer.overflowed:
            self._stats.viewers_dropped += 1
        viewer.close()
        self.remove(viewer)
