"""The "who is watching" lists, rendered once per change for everyone who sees them.

    presence            everyone watching, each user once with their tab count: the
                        header of every page
    presence:<page>     who looks at this page (the overview, a device's page)

At each tick the hub hands over what changed (presence.py); each changed list that
somebody watches is rendered once, and sent only if its HTML is not what was sent last
(a navigation within the grace re-renders the same list). The last HTML of each list is
kept, encoded once, for the snapshots of streams opening meanwhile: a thousand tabs
joining in one second cost one render per list per tick, not one per tab.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.live.frames import FrameEncoder
from app.live.presence import Presence
from app.live.streams import HubStats
from app.live.tiles import OVERVIEW, Renderer, is_device_topic

PRESENCE = "presence"
PRESENCE_PREFIX = "presence:"

Send = Callable[[str, list[tuple[str, str]]], None]


def watchers_topic(page: str) -> str | None:
    """The topic of who looks at `page`, for the pages that show it."""
    return PRESENCE_PREFIX + page if page == OVERVIEW or is_device_topic(page) else None


def header(encode: FrameEncoder, route: str) -> bytes:
    """The frame before a group of frames: which topic (or view) they are for."""
    return encode("topic", route, None)


class Lobby:
    """The rendered presence lists, and the frames that update them."""

    def __init__(
        self, renderer: Renderer, encode: FrameEncoder, presence: Presence, stats: HubStats
    ) -> None:
        self._renderer = renderer
        self._stats = stats
        self._encode = encode
        self._presence = presence
        self._html: dict[str, str] = {}  # list topic -> the HTML last sent
        self._snapshots: dict[str, bytes] = {}

    def flush(self, now: datetime, watched: Callable[[str], bool], send: Send) -> None:
        """Expire what left, render each changed list once, send those that differ."""
        self._presence.expire(now)
        changed, pages = self._presence.take_changes()
        if not changed:
            return
        topics = [PRESENCE, *(t for page in pages if (t := watchers_topic(page)))]
        for topic in topics:
            if not watched(topic):
                self._forget(topic)  # rendered when a stream next asks for it
                continue
            html = self._render(topic)
            if html != self._html.get(topic):
                self._forget(topic)
                self._html[topic] = html
                send(topic, [(self._event(topic), html)])

    def snapshot(self, topic: str, last_id: str) -> bytes:
        """A list as it stands, with its header, for a stream opening (encoded once)."""
        cached = self._snapshots.get(topic)
        if cached is None:
            html = self._html.get(topic)
            if html is None:
                html = self._html[topic] = self._render(topic)
            cached = header(self._encode, topic) + self._encode(self._event(topic), html, last_id)
            self._snapshots[topic] = cached
        return cached

    def _render(self, topic: str) -> str:
        self._stats.lists += 1
        if topic == PRESENCE:
            return self._renderer.presence(*self._presence.entries())
        return self._renderer.watchers(*self._presence.entries(topic[len(PRESENCE_PREFIX) :]))

    def _forget(self, topic: str) -> None:
        self._html.pop(topic, None)
        self._snapshots.pop(topic, None)

    @staticmethod
    def _event(topic: str) -> str:
        return "presence" if topic == PRESENCE else "watchers"
