"""The open streams, by topic: who watches what, how many per client, and what lingers.

A topic is watched while a stream is open on it, and for LINGER after its last stream
ended, so that a browser reconnecting after a network blip can still be replayed what
it missed; the hub renders only the topics watched. Every stream is pinged, timed out
and ended from here, in one pass for all of them.

A stream stays registered until its response has ended (LiveHub.close), not merely
until it is closed: a closed stream may still be sending its last bytes, and the send
timeout must go on applying to them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.live.viewers import Viewer, http_chunk
from app.telemetry import Clock

logger = logging.getLogger(__name__)

LINGER = timedelta(seconds=30)  # a topic stays watched this long after its last stream
PING = b": ping\n\n"
PING_CHUNK = http_chunk(PING)
# Ends logged one by one in a pass; beyond this (a network partition dropping
# thousands of clients at once) one line sums up the rest.
ENDS_LOGGED_PER_PASS = 10


# The last frame of a stream whose session ended: the page reloads, and the server
# answers the reload with the sign-in page (static/js/app.js).
SIGNED_OUT = b"event: signed-out\ndata: the session ended\n\n"


class TooManyStreams(Exception):
    """A client holds as many live streams as it may."""


@dataclass(slots=True)
class HubStats:
    """Counters for metrics and tests."""

    ticks: int = 0
    renders: int = 0
    frames: int = 0
    viewers_dropped: int = 0
    lists: int = 0  # presence lists rendered (lobby.py)
    badges: int = 0  # unread badges rendered, once per user told (inboxes.py)


class Streams:
    """Viewers by topic, bounded per client."""

    def __init__(self, clock: Clock, stats: HubStats, *, streams_per_client: int) -> None:
        self._clock = clock
        self._stats = stats
        self._streams_per_client = streams_per_client
        self._topics: dict[str, set[Viewer]] = {}
        self._lingering: dict[str, datetime] = {}  # topic -> until when it stays watched
        self._per_client: Counter[str] = Counter()
        self._by_user: dict[int, set[Viewer]] = {}  # signed-in streams only
        # Every stream once (one is on several topics), and by id (tabs join streams).
        self._all: set[Viewer] = set()
        self._by_stream: dict[str, Viewer] = {}

    def check_room(self, client: str) -> None:
        """Raise TooManyStreams if `client` may open no more streams."""
        if self._per_client[client] >= self._streams_per_client:
            raise TooManyStreams(
                f"this client already holds {self._streams_per_client} live streams; "
                "close some tabs (TELEMETRY_SSE_STREAMS_PER_CLIENT)"
            )

    def add(self, viewer: Viewer) -> None:
        """Register a stream (primed already) on each of its topics."""
        self._all.add(viewer)
        if viewer.stream_id:
            self._by_stream[viewer.stream_id] = viewer
        for topic in viewer.topics:
            self._index(viewer, topic)
        self._per_client[viewer.client] += 1
        if viewer.user_id:
            self._by_user.setdefault(viewer.user_id, set()).add(viewer)

    def remove(self, viewer: Viewer) -> None:
        """Forget a stream that ended; a topic it was the last on lingers."""
        if viewer not in self._all:
            return
        self._all.discard(viewer)
        if self._by_stream.get(viewer.stream_id) is viewer:
            del self._by_stream[viewer.stream_id]
        for topic in viewer.topics:
            self._unindex(viewer, topic)
        if viewer.user_id:
            of_user = self._by_user.get(viewer.user_id)
            if of_user is not None:
                of_user.discard(viewer)
                if not of_user:
                    del self._by_user[viewer.user_id]
        self._per_client[viewer.client] -= 1
        if self._per_client[viewer.client] <= 0:
            del self._per_client[viewer.client]

    def subscribe(self, viewer: Viewer, topic: str) -> None:
        """A registered stream carries `topic` too (a tab joined it: hub.py)."""
        if topic not in viewer.topics:
            viewer.topics.add(topic)
            if viewer in self._all:
                self._index(viewer, topic)

    def unsubscribe(self, viewer: Viewer, topic: str) -> None:
        """A registered stream stops carrying `topic`."""
        if topic in viewer.topics:
            viewer.topics.discard(topic)
            if viewer in self._all:
                self._unindex(viewer, topic)

    def stream(self, stream_id: str) -> Viewer | None:
        """The open stream with this id."""
        return self._by_stream.get(stream_id)

    def _index(self, viewer: Viewer, topic: str) -> None:
        self._topics.setdefault(topic, set()).add(viewer)
        self._lingering.pop(topic, None)

    def _unindex(self, viewer: Viewer, topic: str) -> None:
        viewers = self._topics.get(topic)
        if viewers is None:
            return
        viewers.discard(viewer)
        if not viewers:
            del self._topics[topic]
            self._lingering[topic] = self._clock() + LINGER

    def of_user(self, user_id: int) -> list[Viewer]:
        """The open streams of one user."""
        return list(self._by_user.get(user_id, ()))

    def end_sessions(self, user_id: int | None, session_ids: Iterable[int] | None) -> int:
        """End the streams of these sessions of a user (all of them: None), or of these
        sessions whoever holds them (user None); each first tells its page (SIGNED_OUT)."""
        wanted = None if session_ids is None else set(session_ids)
        if user_id is None:
            viewers = [v for v in self.viewers() if v.session_id in (wanted or ())]
        else:
            viewers = self.of_user(user_id)
            if wanted is not None:
                viewers = [v for v in viewers if v.session_id in wanted]
        for viewer in viewers:
            self.remove(viewer)  # no frame of its page follows the last one
            viewer.finish(SIGNED_OUT)
        return len(viewers)

    def session_ids(self) -> set[int]:
        """The sessions (and, negated, personal tokens) open streams were opened with."""
        return {v.session_id for viewers in self._by_user.values() for v in viewers if v.session_id}

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
        behind = [v for v in self._topics.get(topic, ()) if not v.push(blob, chunk)]
        self._report(behind)

    def ping(self) -> None:
        """A comment to every stream, so that idle proxies keep them open."""
        behind = [viewer for viewer in self._all if not viewer.push(PING, PING_CHUNK)]
        self._report(behind)

    def drop_stalled(self, now: float, timeout: float) -> int:
        """End every stream whose client has taken nothing of a write for `timeout` s.

        One pass for all streams, instead of a timer around every write of every stream:
        at thousands of viewers that timer was a tenth of the cost of a delivery. A
        stream ended before (closed, still sending its last bytes) is looked at too.
        """
        deadline = now - timeout
        stalled = []
        for viewer in self._all:
            if viewer.stalled:
                continue  # cut already; it leaves when its response ends
            since = viewer.waiting_since(now)
            if since and since < deadline:
                stalled.append(viewer)
        for viewer in stalled:
            viewer.stall()
        self._report(stalled, timeout)
        return len(stalled)

    def close_all(self) -> None:
        """End every stream (their browsers reconnect to the next server)."""
        for viewer in list(self._all):
            viewer.close()

    def cut_all(self) -> int:
        """Cut the connection of every stream still registered; returns how many."""
        remaining = [viewer for viewer in self.viewers() if not viewer.stalled]
        for viewer in remaining:
            viewer.stall()
        return len(remaining)

    def viewers(self) -> list[Viewer]:
        """Every registered stream."""
        return list(self._all)

    def count(self) -> int:
        """Open streams."""
        return len(self._all)

    def count_wired(self) -> int:
        """Open streams written straight to their sockets (see viewers.py)."""
        return sum(viewer.wired for viewer in self._all)

    def _report(self, ended: list[Viewer], timeout: float = 0.0) -> None:
        """Count and log, once each, the streams the hub ended (not those that left)."""
        logged = 0
        for viewer in ended:
            if viewer.reported or not (viewer.overflowed or viewer.stalled):
                continue
            viewer.reported = True
            self._stats.viewers_dropped += 1
            logged += 1
            if logged > ENDS_LOGGED_PER_PASS:
                continue
            if viewer.overflowed:
                why = "it fell too far behind"
            else:
                why = f"it accepted nothing for {timeout:g} s (TELEMETRY_SSE_SEND_TIMEOUT)"
            logger.info(
                "ended the live stream of %s on %s: %s; it gets a snapshot when it reconnects",
                viewer.client,
                viewer.topic,
                why,
            )
        if logged > ENDS_LOGGED_PER_PASS:
            logger.info(
                "ended %d more live streams that stopped reading",
                logged - ENDS_LOGGED_PER_PASS,
            )
