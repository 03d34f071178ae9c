"""The rendered tiles, the overview's grid, and the snapshots new streams start from.

A tile is rendered once per change and kept; a tile that changed while nobody watched
is marked stale, and rendered when it is next asked for or, once it has been quiet for
a few ticks and within a small share of each tick, ahead of time: a page opened after every device
changed unwatched would otherwise render them all (500 tiles, about 60 ms) before it
could answer. A snapshot
(the grid, or one device's tile and the minutes behind its charts) is encoded once per
topic per change and shared: a thousand tabs opening at once cost one grid, not a
thousand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol

from app.live.frames import FrameEncoder
from app.live.points import points_json
from app.live.state import DeviceView
from app.live.streams import HubStats

OVERVIEW = "overview"
PAGE = "page"  # a page without live content of its own (its stream: presence, the user's)
DEVICE_TOPIC_PREFIX = "device:"
QUIET_TICKS = 3  # a tile unchanged for this many ticks is rendered ahead (see render_ahead)


def device_topic(device_id: int) -> str:
    """The topic of a device's own page."""
    return f"{DEVICE_TOPIC_PREFIX}{device_id}"


def is_device_topic(topic: str) -> bool:
    """True for the topic of a device's page."""
    return topic.startswith(DEVICE_TOPIC_PREFIX)


def topic_device(topic: str) -> int | None:
    """The device whose page `topic` is, or None for the overview and other pages."""
    return int(topic[len(DEVICE_TOPIC_PREFIX) :]) if is_device_topic(topic) else None


class Renderer(Protocol):
    """Turns views into HTML fragments (implemented by the web layer's templates)."""

    def tile(self, view: DeviceView, now: datetime) -> str:
        """One device's tile."""

    def grid(self, views: Iterable[DeviceView], tiles: Mapping[int, str]) -> str:
        """Every tile, in order, from the already rendered ones."""

    def unread(self, count: int) -> str:
        """A user's unread-notifications badge."""


class Tiles:
    """Rendered tiles by device, rendered only when changed and asked for."""

    def __init__(
        self,
        renderer: Renderer,
        encode: FrameEncoder,
        views: Mapping[int, DeviceView],
        stats: HubStats,
    ) -> None:
        self._renderer = renderer
        self._encode = encode
        self._views = views
        self._stats = stats
        self._tiles: dict[int, str] = {}
        # Devices whose tile in _tiles is out of date, with the tick they last changed at.
        self._stale: dict[int, int] = {}
        self._snapshots: dict[str, bytes] = {}

    def mark_stale(self, device_ids: Iterable[int]) -> None:
        """These tiles changed; the snapshots that hold them are rebuilt when asked."""
        self._stale.update(dict.fromkeys(device_ids, self._stats.ticks))
        self._snapshots.clear()

    def forget(self, topic: str) -> None:
        """Build `topic`'s snapshot anew when it is next asked for."""
        self._snapshots.pop(topic, None)

    def forget_device(self, device_id: int) -> None:
        """Drop a device that is no longer shown: its tile, and the snapshots holding it."""
        self._tiles.pop(device_id, None)
        self._stale.pop(device_id, None)
        self._snapshots.clear()

    def render(self, device_id: int, now: datetime) -> str:
        """Render a device's tile now (it changed and someone watches)."""
        self._stats.renders += 1
        self._stale.pop(device_id, None)
        html = self._tiles[device_id] = self._renderer.tile(self._views[device_id], now)
        return html

    def render_ahead(self, now: datetime, deadline: float) -> int:
        """Render tiles that changed while nobody watched and have been quiet since for
        QUIET_TICKS, until `deadline` (a perf_counter time), so the next page finds them
        ready; returns how many.

        A tile still changing is left: under a steady stream of readings it would be
        rendered again and again for nobody, a cost ingest pays (a tenth of its batch
        throughput, measured). A page renders the few left itself.
        """
        rendered = 0
        quiet_since = self._stats.ticks - QUIET_TICKS
        for device_id in [d for d, tick in self._stale.items() if tick <= quiet_since]:
            if time.perf_counter() >= deadline:
                break
            self.render(device_id, now)
            rendered += 1
        return rendered

    def tile(self, device_id: int, now: Callable[[], datetime]) -> str:
        """The device's tile, rendered now if it changed while nobody watched."""
        html = self._tiles.get(device_id)
        if html is None or device_id in self._stale:
            html = self.render(device_id, now())
        return html

    def grid(self, now: Callable[[], datetime]) -> str:
        """Every device's tile, in name order."""
        ordered = sorted(self._views.values(), key=lambda v: v.name)
        return self._renderer.grid(ordered, {view.id: self.tile(view.id, now) for view in ordered})

    def snapshot(self, topic: str, last_id: str, now: Callable[[], datetime]) -> bytes:
        """What a new stream of `topic` starts from, encoded once per change."""
        cached = self._snapshots.get(topic)
        if cached is not None:
            return cached
        device_id = topic_device(topic)
        if topic == PAGE:
            snapshot = b""
        elif device_id is None:
            snapshot = self._encode("grid", self.grid(now), last_id)
        else:
            snapshot = b""
            if device_id in self._views:
                snapshot = self._encode(f"tile-{device_id}", self.tile(device_id, now), last_id)
                snapshot += self._encode(
                    "points", points_json(self._views[device_id], now()), last_id
                )
            snapshot += self._encode("resync", "{}", last_id)
        self._snapshots[topic] = snapshot
        return snapshot
