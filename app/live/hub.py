"""The live hub: throttle, render once, fan out.

    bus: measurement_inserted ──> apply(): the device's view changes, it is marked dirty
                                            │
    every refresh interval: tick() ─────────┤ statuses re-checked (silence needs no event)
                                            ▼
         each dirty device's tile rendered ONCE ──> one frame, the same bytes for all
                                            │
         overview viewers  <── one blob per tick ──> viewers of that device's page
                                                      (+ its new points, as JSON)

Whatever the rate of readings, a device costs at most one render per interval, and the
number of viewers only changes how many times the same bytes are queued. A tile nobody
watches (no overview stream, no stream of its page, none for the last LINGER: see
streams.py) is not rendered at all: it is marked stale and rendered when a stream or a
page next asks for it. A topic keeps being rendered for LINGER after its last stream
ends, so that a browser reconnecting after a blip can still be replayed what it missed;
after that its replay log holds a gap, and a reconnecting stream gets a snapshot. A new
stream starts with a snapshot of what its page shows (the cached tiles, not a re-render), or
with the frames it missed when it sends a Last-Event-ID the replay log still covers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol

import anyio

from app.bus import Subscription
from app.live.frames import FrameLog, encode
from app.live.state import DeviceView
from app.live.streams import HubStats, Streams
from app.live.viewers import Viewer
from app.telemetry import Clock, MeasurementInserted

logger = logging.getLogger(__name__)

OVERVIEW = "overview"
SHUTDOWN_POLL = 0.25  # seconds between looks at the server's shutdown flag
STALL_CHECK = 1.0  # seconds between looks for streams stuck in a write
# Pings go out this much before their interval is up, so that a proxy that closes
# streams idle for TELEMETRY_SSE_PING_SECONDS never sees that much silence.
PING_EARLY = 0.2


def device_topic(device_id: int) -> str:
    """The topic of a device's own page."""
    return f"device:{device_id}"


class Renderer(Protocol):
    """Turns views into HTML fragments (implemented by the web layer's templates)."""

    def tile(self, view: DeviceView, now: datetime) -> str:
        """One device's tile."""

    def grid(self, views: Iterable[DeviceView], tiles: Mapping[int, str]) -> str:
        """Every tile, in order, from the already rendered ones."""


class ServerClosing(Exception):
    """The server is shutting down and opens no more streams."""


class LiveHub:
    """Keeps every device's view and every open stream, and moves one to the other."""

    def __init__(
        self,
        renderer: Renderer,
        clock: Clock,
        *,
        refresh_interval: float,
        replay_frames: int,
        replay_bytes: int,
        queue_frames: int,
        ping_seconds: float,
        streams_per_client: int,
        send_timeout: float,
    ) -> None:
        self._renderer = renderer
        self._clock = clock
        self._interval = refresh_interval
        self._queue_frames = queue_frames
        self._ping_seconds = ping_seconds
        self._send_timeout = send_timeout
        self.stats = HubStats()
        self.streams = Streams(clock, self.stats, streams_per_client=streams_per_client)
        self.log = FrameLog(replay_frames, replay_bytes)
        self.views: dict[int, DeviceView] = {}
        self._by_name: dict[str, int] = {}
        self._tiles: dict[int, str] = {}
        self._stale: set[int] = set()  # devices whose tile in _tiles is out of date
        self._snapshots: dict[str, bytes] = {}
        self._dirty: set[int] = set()
        self._grid_dirty = False
        # device id -> quantity -> [first ms, last ms, min, max, sum, count] since the tick
        self._points: dict[int, dict[str, list[float]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._tick_started = 0.0
        self.shutdown: anyio.Event | None = None  # set when the server stops
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle --------------------------------------------------------------------

    def load(self, views: Iterable[DeviceView]) -> None:
        """Start from stored state (before `start`)."""
        now = self._clock()
        for view in views:
            view.status = view.status_at(now)
            self._add_view(view)
        self._stale.update(self.views)  # rendered when the first stream or page asks
        self._grid_dirty = False  # streams opened from now on start from this state

    async def start(
        self, events: Subscription[MeasurementInserted], stopping: Callable[[], bool]
    ) -> None:
        """Follow `events`, tick every refresh interval, end every stream once `stopping()`.

        `stopping` is polled: the server's own signal handling sets it (see events.py).
        """
        self._loop = loop = asyncio.get_running_loop()
        self.shutdown = shutdown = anyio.Event()
        self._tasks = [
            loop.create_task(self._consume(events), name="live-consume"),
            loop.create_task(self._tick_forever(), name="live-tick"),
            loop.create_task(self._keep_alive_forever(), name="live-keepalive"),
            loop.create_task(self._end_streams_on(shutdown), name="live-shutdown"),
            loop.create_task(self._watch_for_shutdown(stopping, shutdown), name="live-stop"),
        ]

    async def _watch_for_shutdown(
        self, stopping: Callable[[], bool], shutdown: anyio.Event
    ) -> None:
        # The flag belongs to the server's signal handler, which offers nothing to await.
        while not stopping():  # noqa: ASYNC110
            await asyncio.sleep(SHUTDOWN_POLL)
        shutdown.set()

    def end_streams_threadsafe(self) -> None:
        """From any thread: end every stream and open no more (as on server shutdown)."""
        if self._loop is not None and self.shutdown is not None:
            self._loop.call_soon_threadsafe(self.shutdown.set)

    async def _end_streams_on(self, shutdown: anyio.Event) -> None:
        # Ending every stream when the server starts shutting down lets each response
        # finish cleanly instead of being cut off, and the server stop at once.
        await shutdown.wait()
        self._closing = True
        self.streams.close_all()

    async def stop(self) -> None:
        """Stop ticking and end every stream (their browsers reconnect to the next server)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.streams.close_all()

    async def _consume(self, events: Subscription[MeasurementInserted]) -> None:
        async for event in events:
            self.apply(event)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.tick()
            except Exception:
                logger.exception("a live update failed; the next tick tries again")

    async def _keep_alive_forever(self) -> None:
        # On its own timer, not the tick's: the refresh interval may be a minute, and
        # neither the pings nor the send timeout may wait that long.
        loop = asyncio.get_running_loop()
        interval = max(self._ping_seconds - PING_EARLY, PING_EARLY)
        next_ping = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, min(STALL_CHECK, next_ping - loop.time())))
            try:
                self.drop_stalled(loop.time() - self._send_timeout)
                if loop.time() >= next_ping:
                    self.ping()
                    next_ping = loop.time() + interval
            except Exception:
                logger.exception("keeping live streams alive failed; trying again")

    # -- events and ticks ---------------------------------------------------------------

    def apply(self, event: MeasurementInserted) -> None:
        """Fold a stored measurement into its device's view; rendered at the next tick."""
        view = self.views.get(event.device_id)
        if view is None:
            view = DeviceView(event.device_id, event.device)
            self._add_view(view)
        view.apply(event, self._clock())
        self._dirty.add(view.id)
        if self.streams.watched(device_topic(view.id)):
            points = self._points.setdefault(view.id, {})
            at = event.measured_at.timestamp() * 1000
            for name, value in event.values.items():
                span = points.get(name)
                if span is None:
                    points[name] = [at, at, value, value, value, 1]
                else:
                    span[0], span[1] = min(span[0], at), max(span[1], at)
                    span[2], span[3] = min(span[2], value), max(span[3], value)
                    span[4] += value
                    span[5] += 1

    def add_devices(self, devices: Iterable[tuple[int, str]]) -> None:
        """Show devices registered since the start that have not posted yet (by id, name)."""
        for device_id, name in devices:
            if device_id not in self.views:
                self._add_view(DeviceView(device_id, name))
                self._dirty.add(device_id)

    def tick(self) -> None:
        """Re-check statuses, render what changed once, send it to whoever watches."""
        now = self._clock()
        self._tick_started = time.time()
        self.stats.ticks += 1
        for view in self.views.values():
            status = view.status_at(now)
            if status != view.status:
                view.status = status
                self._dirty.add(view.id)
        dirty, self._dirty = sorted(self._dirty), set()
        points, self._points = self._points, {}
        if dirty or self._grid_dirty:
            self._snapshots.clear()
        self._stale.update(dirty)
        for topic in self.streams.end_lingering(now):
            # From now on its frames are neither rendered nor kept: whoever comes back
            # needs a snapshot, not a replay with holes in it.
            self.log.gap(topic)
        watching = self.streams.watched
        overview_watched = watching(OVERVIEW)
        watched = [d for d in dirty if overview_watched or watching(device_topic(d))]
        for device_id in watched:  # each changed tile rendered once, for everyone
            self._render(self.views[device_id], now)
        if overview_watched:
            if self._grid_dirty:  # a device appeared: the grid itself changes
                overview = [("grid", self._grid())]
            else:
                overview = [(f"tile-{d}", self._tiles[d]) for d in dirty]
            self._send(OVERVIEW, overview)
        self._grid_dirty = False  # unwatched, its log holds a gap (see _end_lingering)
        for device_id in watched:
            topic = device_topic(device_id)
            if not watching(topic):
                continue
            frames = [(f"tile-{device_id}", self._tiles[device_id])]
            if device_id in points:
                frames.append(("points", _points_json(points[device_id])))
            self._send(topic, frames)

    # -- streams --------------------------------------------------------------------------

    def device_id(self, name: str) -> int | None:
        """The id of a device the hub knows, by name."""
        return self._by_name.get(name)

    def grid_html(self) -> str:
        """The overview's grid as it stands (what a new page starts from)."""
        return self._grid()

    def tile_html(self, device_id: int) -> str:
        """A device's current tile."""
        return self._tile(device_id)

    def quantities(self, device_id: int) -> list[str]:
        """The quantities a device has shown, in name order."""
        return sorted(self.views[device_id].quantities)

    def open(self, topic: str, client: str, last_event_id: str | None) -> Viewer:
        """A new stream on `topic`, primed with a snapshot or with what it missed."""
        if self._closing:
            raise ServerClosing("the server is shutting down; reconnect in a moment")
        self.streams.check_room(client)
        viewer = Viewer(topic, client, self._queue_frames)
        # Browsers reconnect after `retry` ms: spread them so a restart is not a stampede.
        viewer.push(f"retry: {random.randint(1000, 4000)}\n\n".encode())  # noqa: S311
        # A replay needs the topic to have been rendered all along, and must fit in the
        # viewer's queue (with the retry frame); otherwise the snapshot, one frame, does.
        missed = self.log.since(topic, last_event_id) if self.streams.watched(topic) else None
        if missed is not None and len(missed) >= self._queue_frames:
            missed = None
        for data in missed if missed is not None else self._snapshot(topic):
            viewer.push(data)
        self.streams.add(viewer)
        return viewer

    def close(self, viewer: Viewer) -> None:
        """Forget a stream that ended."""
        viewer.close()
        self.streams.remove(viewer)

    def ping(self) -> None:
        """A comment to every stream, so that idle proxies keep them open."""
        self.streams.ping()

    def drop_stalled(self, deadline: float) -> int:
        """End every stream whose current write began before `deadline` (loop time)."""
        return self.streams.drop_stalled(deadline)

    def viewer_count(self) -> int:
        """Open streams."""
        return self.streams.count()

    def wired_viewer_count(self) -> int:
        """Open streams whose updates go straight to their sockets."""
        return self.streams.count_wired()

    # -- internals ------------------------------------------------------------------------

    def _add_view(self, view: DeviceView) -> None:
        self.views[view.id] = view
        self._by_name[view.name] = view.id
        self._grid_dirty = True

    def _render(self, view: DeviceView, now: datetime) -> str:
        self.stats.renders += 1
        self._stale.discard(view.id)
        html = self._tiles[view.id] = self._renderer.tile(view, now)
        return html

    def _tile(self, device_id: int) -> str:
        """The device's tile, rendered now if it changed while nobody watched."""
        html = self._tiles.get(device_id)
        if html is None or device_id in self._stale:
            html = self._render(self.views[device_id], self._clock())
        return html

    def _grid(self) -> str:
        ordered = sorted(self.views.values(), key=lambda v: v.name)
        return self._renderer.grid(ordered, {view.id: self._tile(view.id) for view in ordered})

    def _snapshot(self, topic: str) -> list[bytes]:
        # Built once per topic per change and shared: a thousand tabs opening at once
        # cost one grid, not a thousand.
        cached = self._snapshots.get(topic)
        if cached is not None:
            return [cached]
        last = self.log.last_id
        if topic == OVERVIEW:
            snapshot = encode("grid", self._grid(), last)
        else:
            device_id = int(topic.removeprefix("device:"))
            tile = self._tile(device_id) if device_id in self.views else None
            snapshot = (
                encode(f"tile-{device_id}", tile, last) if tile is not None else b""
            ) + encode("resync", "{}", last)
        self._snapshots[topic] = snapshot
        return [snapshot]

    def _send(self, topic: str, frames: list[tuple[str, str]]) -> None:
        if not frames:
            return
        self.stats.frames += len(frames)
        # The comment says when the tick produced these frames: browsers ignore it,
        # latency probes (bench/sse.py) measure from it.
        blob = b": tick %d\n" % (self._tick_started * 1000) + self.log.append(topic, frames)
        self.streams.send(topic, blob)


def _points_json(points: Mapping[str, list[float]]) -> str:
    parts = [
        f'"{name}":[{span[0]:.0f},{span[1]:.0f},{span[2]!r},{span[3]!r},{span[4]!r},{int(span[5])}]'
        for name, span in sorted(points.items())
    ]
    return "{" + ",".join(parts) + "}"
