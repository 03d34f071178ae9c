"""The live hub: throttle, render once, fan out.

    bus: measurement_inserted ──> apply(): the device's view changes, it is marked dirty
                                            │
    every refresh interval: tick() ─────────┤ statuses re-checked (silence needs no event)
                                            ▼
         each dirty device's tile rendered ONCE ──> one frame, the same bytes for all
                                            │
         overview viewers  <── one blob per tick ──> viewers of that device's page
                                                      (+ its changed minutes, as JSON)

Whatever the rate of readings, a device costs at most one render per interval, and the
number of viewers only changes how many times the same bytes are queued. A tile nobody
watches (for the last LINGER: streams.py) is marked stale and rendered when asked for,
or ahead once quiet, in at most RENDER_AHEAD_SHARE of each interval (tiles.py). A topic
keeps being rendered for LINGER after its last stream ends, so that a browser
reconnecting after a blip can be replayed what it missed; after that its replay log
holds a gap, and a reconnecting stream gets a snapshot (tabs.py). Presence lists are
rendered at the tick too (lobby.py); a user's notifications go out at once (inboxes.py).

Shutdown: whoever runs the server calls `end_streams` (app/serving.py does it from its
signal handler): every stream ends at once and no new one opens; a stream whose client
has not taken its last bytes SHUTDOWN_GRACE later has its connection cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from app.bus import Subscription
from app.live.audience import Audience
from app.live.frames import FrameEncoder, FrameLog
from app.live.inboxes import Inboxes
from app.live.lobby import Lobby, header
from app.live.points import ChangedMinutes, points_json
from app.live.presence import Presence, TabInfo, ViewKey
from app.live.roster import Roster
from app.live.state import DeviceView
from app.live.streams import HubStats, Streams
from app.live.tabs import (
    GUEST,
    NotYourStream,
    ServerClosing,
    Tabs,
    TooManyViews,
    UnknownStream,
    Watcher,
)
from app.live.tasks import follow, keep_alive_forever, tick_forever
from app.live.tiles import OVERVIEW, PAGE, Renderer, Tiles, device_topic
from app.live.viewers import Viewer
from app.telemetry import Clock, MeasurementInserted

__all__ = [
    "GUEST",
    "OVERVIEW",
    "PAGE",
    "LiveHub",
    "NotYourStream",
    "Renderer",
    "ServerClosing",
    "TabInfo",
    "TooManyViews",
    "UnknownStream",
    "Watcher",
    "device_topic",
]

logger = logging.getLogger(__name__)

# How long, on shutdown, streams may take to send their last bytes before their
# connections are cut (well within `telemetry serve`'s graceful-shutdown timeout).
SHUTDOWN_GRACE = 1.0
# The share of each refresh interval spent rendering unwatched tiles ahead of the page
# that will ask for them: bounded, so a large quiet fleet costs ingest little.
RENDER_AHEAD_SHARE = 0.05


class LiveHub(Roster, Tabs, Audience):
    """Keeps every device's view and every open stream, and moves one to the other."""

    def __init__(
        self,
        renderer: Renderer,
        encode: FrameEncoder,
        clock: Clock,
        *,
        refresh_interval: float,
        replay_frames: int,
        replay_bytes: int,
        queue_frames: int,
        backlog_bytes: int,
        ping_seconds: float,
        streams_per_client: int,
        send_timeout: float,
    ) -> None:
        self._clock = clock
        self._interval = refresh_interval
        self._queue_frames = queue_frames
        self._backlog_bytes = backlog_bytes
        self._ping_seconds = ping_seconds
        self.send_timeout = send_timeout
        self.stats = HubStats()
        self.streams = Streams(clock, self.stats, streams_per_client=streams_per_client)
        self.log = FrameLog(encode, replay_frames, replay_bytes)
        self.views: dict[int, DeviceView] = {}
        self._by_name: dict[str, int] = {}
        self.removed: dict[int, str] = {}  # deleted devices (roster.py)
        self._tiles = Tiles(renderer, encode, self.views, self.stats)
        self._dirty: set[int] = set()
        self._grid_dirty = False
        self._points = ChangedMinutes()
        self._encode = encode
        self._presence = Presence()
        self._lobby = Lobby(encode, self._presence, self.stats)
        self._inboxes = Inboxes(renderer, encode, self.stats)
        self._holders: dict[ViewKey, Viewer] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._tick_started = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle --------------------------------------------------------------------

    def load(self, views: Iterable[DeviceView]) -> None:
        """Start from stored state (before `start`)."""
        now = self._clock()
        for view in views:
            view.status = view.status_at(now)
            self._add_view(view)
        self._tiles.mark_stale(self.views)  # rendered when the first stream or page asks
        self._grid_dirty = False  # streams opened from now on start from this state

    async def start(self, events: Subscription[MeasurementInserted]) -> None:
        """Follow `events`, tick every refresh interval, keep the streams alive."""
        self._loop = loop = asyncio.get_running_loop()
        ticked = asyncio.Event()
        self._tasks = [
            loop.create_task(follow(self, events), name="live-consume"),
            loop.create_task(tick_forever(self, self._interval, ticked), name="live-tick"),
            loop.create_task(
                keep_alive_forever(self, self._ping_seconds, ticked), name="live-keepalive"
            ),
        ]

    def end_streams(self) -> None:
        """End every stream and open no more, as the server starts shutting down.

        Each response then finishes cleanly instead of being cut off, and the server
        can stop at once; the browsers reconnect to the next server.
        """
        first = not self._closing
        self._closing = True
        self.streams.close_all()
        if first and self._loop is not None and not self._loop.is_closed():
            self._loop.call_later(SHUTDOWN_GRACE, self._cut_remaining)

    def _cut_remaining(self) -> None:
        if cut := self.streams.cut_all():
            logger.info("cut %d live streams that had not taken their last bytes", cut)

    def end_streams_threadsafe(self) -> None:
        """`end_streams` from any thread, or from a signal handler."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self.end_streams)

    async def stop(self) -> None:
        """Stop ticking and end every stream (their browsers reconnect to the next server)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.end_streams()

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
            self._points.add(event)

    def add_devices(self, devices: Iterable[tuple[int, str]]) -> None:
        """Show devices registered since the start that have not posted yet (by id, name)."""
        for device_id, name in devices:
            if device_id not in self.views:
                self._add_view(DeviceView(device_id, name))
                self._dirty.add(device_id)

    def tick(self) -> None:
        """Re-check statuses, render what changed once, send it to whoever watches."""
        now = self._clock()
        self._tick_started = now.timestamp()
        self.stats.ticks += 1
        for view in self.views.values():
            status = view.status_at(now)
            if status != view.status:
                view.status = status
                self._dirty.add(view.id)
        dirty, self._dirty = sorted(self._dirty), set()
        points = self._points.take()
        if dirty or self._grid_dirty:
            self._tiles.mark_stale(dirty)
        for topic in self.streams.end_lingering(now):
            # From now on its frames are neither rendered nor kept: whoever comes back
            # needs a snapshot, not a replay with holes in it.
            self.log.gap(topic)
        watching = self.streams.watched
        overview_watched = watching(OVERVIEW)
        watched = [d for d in dirty if overview_watched or watching(device_topic(d))]
        tiles = {d: self._tiles.render(d, now) for d in watched}  # once, for everyone
        if overview_watched:
            if self._grid_dirty:  # a device appeared: the grid itself changes
                overview = [("grid", self._tiles.grid(self._clock))]
            else:
                overview = [(f"tile-{d}", tiles[d]) for d in dirty]
            self._send(OVERVIEW, overview)
        self._grid_dirty = False  # unwatched, its log holds a gap (see end_lingering)
        for device_id in watched:
            topic = device_topic(device_id)
            if not watching(topic):
                continue
            frames = [(f"tile-{device_id}", tiles[device_id])]
            if device_id in points:
                view = self.views[device_id]
                frames.append(("points", points_json(view, now, points[device_id])))
            self._send(topic, frames)
        self._lobby.flush(now, watching, self._send)
        self._inboxes.prune(time.monotonic())
        self._tiles.render_ahead(now, time.perf_counter() + self._interval * RENDER_AHEAD_SHARE)

    # -- streams --------------------------------------------------------------------------

    def device_id(self, name: str) -> int | None:
        """The id of a device the hub knows, by name."""
        return self._by_name.get(name)

    def grid_html(self) -> str:
        """The overview's grid as it stands (what a new page starts from)."""
        return self._tiles.grid(self._clock)

    def tile_html(self, device_id: int) -> str:
        """A device's current tile."""
        return self._tiles.tile(device_id, self._clock)

    def quantities(self, device_id: int) -> list[str]:
        """The quantities a device has shown, in name order."""
        return sorted(self.views[device_id].quantities)

    def ping(self) -> None:
        """A comment to every stream, so that idle proxies keep them open."""
        self.streams.ping()

    def drop_stalled(self, now: float) -> int:
        """End every stream whose client took nothing for the send timeout (loop time)."""
        return self.streams.drop_stalled(now, self.send_timeout)

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

    def _send(self, topic: str, frames: list[tuple[str, str]]) -> None:
        if not frames:
            return
        self.stats.frames += len(frames)
        # The comment says when the tick produced these frames: browsers ignore it,
        # latency probes (bench/sse.py) measure from it.
        tick = b": tick %d\n" % (self._tick_started * 1000)
        blob = tick + self.log.append(topic, frames, header(self._encode, topic))
        self.streams.send(topic, blob)
