"""Streams and the tabs they carry: opening, joining, leaving (LiveHub inherits this).

A browser holds at most six HTTP/1.1 connections to a server, so its tabs share one
stream (static/js/live.js): the first tab opens it, the others join it as views.

    GET /events?...&tab=T&view=V ──> open(): a stream, carrying view V
        first frames: retry, `stream` {"stream": id, "view": V}, then V's snapshot
    POST /events/views ──> join(stream id, ...): view W rides on that stream; its
        snapshot goes on the stream under the header `view:W <topic>`
    pagehide beacon ──> leave(): the view goes (presence: the short grace)

Every group of frames on a stream follows a `topic` header frame saying whose it is
(lobby.header): the browser hands each group to the tabs on that topic. A stream
carries the topics of its views, its user's own topic and, for those who may see it,
presence (lobby.py); the frames of a topic are the same bytes on every stream.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.live.frames import FrameEncoder, FrameLog
from app.live.inboxes import Inboxes, user_topic
from app.live.lobby import PRESENCE, Lobby, header, watchers_topic
from app.live.presence import NAVIGATION_GRACE, RECONNECT_GRACE, Presence, ViewKey
from app.live.streams import Streams
from app.live.tiles import PAGE, Tiles, topic_device
from app.live.viewers import Viewer
from app.telemetry import Clock

# Views one stream may carry: a browser's tabs, with room for navigations in flight.
VIEWS_PER_STREAM = 64


class ServerClosing(Exception):
    """The server is shutting down and opens no more streams."""


class UnknownStream(LookupError):
    """No stream with that id is open here (it ended, or another worker holds it)."""


class NotYourStream(PermissionError):
    """The stream belongs to another session."""


class TooManyViews(Exception):
    """The stream carries as many views as it may."""


@dataclass(frozen=True, slots=True)
class Watcher:
    """Who opens a stream: 0s for somebody not signed in (a public dashboard).

    `session_id` is the session (minus the personal token's id for a token), so that
    ending sessions ends their streams; `unread` their unread count, when the hub does
    not know it yet (Inboxes.unread), as the database said it at `counted_at`
    (time.monotonic(), taken before asking).
    """

    user_id: int = 0
    session_id: int = 0
    name: str = ""
    sees_presence: bool = True
    unread: int = 0
    counted_at: float = 0.0


GUEST = Watcher()


class Tabs:
    """The opening and tab half of the live hub."""

    streams: Streams
    log: FrameLog
    _tiles: Tiles
    _dirty: set[int]
    _clock: Clock
    _closing: bool
    _queue_frames: int
    _backlog_bytes: int
    _encode: FrameEncoder
    _presence: Presence
    _lobby: Lobby
    _inboxes: Inboxes
    _holders: dict[ViewKey, Viewer]

    def open(
        self,
        topic: str,
        client: str,
        last_event_id: str | None,
        watcher: Watcher = GUEST,
        *,
        tab: str = "",
        view: str = "",
    ) -> Viewer:
        """A new stream on `topic`, primed with a snapshot or with what it missed."""
        if self._closing:
            raise ServerClosing("the server is shutting down; reconnect in a moment")
        self.streams.check_room(client)
        limits = (self._queue_frames, self._backlog_bytes)
        w = watcher
        viewer = Viewer(topic, client, *limits, user_id=w.user_id, session_id=w.session_id)
        viewer.stream_id = secrets.token_urlsafe(16)
        viewer.name, viewer.sees_presence = w.name, w.sees_presence
        view = view or secrets.token_urlsafe(12)
        if w.user_id:
            viewer.topics.add(user_topic(w.user_id))
            self._inboxes.remember(w.user_id, w.unread, w.counted_at)
        if w.sees_presence:
            viewer.topics.update(t for t in (PRESENCE, watchers_topic(topic)) if t)
        # Browsers reconnect after `retry` ms: spread them so a restart is not a stampede.
        first = [f"retry: {random.randint(1000, 4000)}\n\n".encode()]  # noqa: S311
        opened = json.dumps({"stream": viewer.stream_id, "view": view})
        first.append(self._encode("stream", opened, None))
        first.append(header(self._encode, f"view:{view} {topic}"))
        # A replay needs every topic to have been rendered all along, and must fit in
        # the viewer's queue; otherwise the snapshot does.
        watched = all(self.streams.watched(t) for t in viewer.topics)
        missed = self.log.since(viewer.topics, last_event_id) if watched else None
        if missed is not None and len(missed) >= self._queue_frames:
            missed = None
        if missed is None:
            missed = [self._page_snapshot(topic)]
            if w.user_id:
                missed.append(self._inboxes.snapshot(w.user_id, self.log.last_id))
            missed.extend(self._lobby.snapshot(t, self.log.last_id) for t in self._lists(viewer))
        # The snapshots are shared bytes, pushed as they are: joined, each stream would
        # hold a copy of them until its client took them (a presence list included).
        viewer.push(b"".join(first))
        for data in missed:
            viewer.push(data)
        viewer.views[view] = topic
        self.streams.add(viewer)
        self._arrive(viewer, view, tab, topic)
        return viewer

    def join(self, stream_id: str, watcher: Watcher, topic: str, *, tab: str, view: str) -> None:
        """Add a tab's view to an open stream of the same session, and send its snapshot."""
        viewer = self.streams.stream(stream_id)
        if viewer is None or viewer.closed or viewer.ending:
            raise UnknownStream("that live stream is not open here; join the next one")
        if (viewer.user_id, viewer.session_id) != (watcher.user_id, watcher.session_id):
            raise NotYourStream("that live stream belongs to another session")
        if view not in viewer.views and len(viewer.views) >= VIEWS_PER_STREAM:
            raise TooManyViews(f"a live stream carries at most {VIEWS_PER_STREAM} tabs")
        self._unsubscribe_view(viewer, view)
        viewer.views[view] = topic
        self.streams.subscribe(viewer, topic)
        lists = [t for t in (watchers_topic(topic),) if t and viewer.sees_presence]
        for list_topic in lists:
            self.streams.subscribe(viewer, list_topic)
        # The tab's page, and what every tab shows (the badge, the header's list), which
        # the other tabs had from the stream's start and this one has not.
        last_id = self.log.last_id
        frames = [header(self._encode, f"view:{view} {topic}"), self._page_snapshot(topic)]
        if viewer.user_id:
            frames.append(self._inboxes.snapshot(viewer.user_id, last_id))
        shown = [PRESENCE, *lists] if viewer.sees_presence else []
        frames.extend(self._lobby.snapshot(t, last_id) for t in shown)
        for data in frames:
            viewer.push(data)
        self._arrive(viewer, view, tab, topic)

    def leave(self, watcher: Watcher, view: str, stream_id: str) -> None:
        """A tab's page is going (it said so): it leaves after the short grace.

        Only the stream carrying the view, named by its id, takes it off: guests of a
        public dashboard share one identity, and must not be able to take each other's
        tabs off by guessing a view id. A signed-in user's own view whose stream has
        gone already (a leader that left first) just has its grace shortened.
        """
        key = (watcher.session_id, view)
        viewer = self._holders.get(key)
        if viewer is not None and viewer.stream_id == stream_id:
            del self._holders[key]
            self._unsubscribe_view(viewer, view)
        elif viewer is not None or not watcher.session_id:
            return
        self._presence.leave(key, self._clock(), NAVIGATION_GRACE)

    def close(self, viewer: Viewer) -> None:
        """Forget a stream whose response has ended; its tabs leave after a grace."""
        viewer.close()
        self.streams.remove(viewer)
        # A cut stream's client is gone, a signed-out one is not coming back; any other
        # (the server shutting down too) may be a browser about to reconnect.
        grace = timedelta(0) if viewer.stalled or viewer.ending else RECONNECT_GRACE
        now = self._clock()
        for view in viewer.views:
            key = (viewer.session_id, view)
            holder = self._holders.get(key)
            if holder is viewer:
                del self._holders[key]
            elif holder is not None:
                continue  # the tab joined another stream already (a new leader's)
            self._presence.leave(key, now, grace)
        if viewer.user_id and not self.streams.of_user(viewer.user_id):
            self._inboxes.forget(viewer.user_id)

    def _arrive(self, viewer: Viewer, view: str, tab: str, topic: str) -> None:
        key = (viewer.session_id, view)
        self._holders[key] = viewer
        now: datetime = self._clock()
        self._presence.join(key, viewer.user_id, viewer.name, tab or view, topic, now)

    def _unsubscribe_view(self, viewer: Viewer, view: str) -> None:
        """Drop a view from its stream, and the topics no other view of it needs."""
        topic = viewer.views.pop(view, None)
        if topic is None or topic in viewer.views.values():
            return
        self.streams.unsubscribe(viewer, topic)
        if (list_topic := watchers_topic(topic)) is not None:
            self.streams.unsubscribe(viewer, list_topic)

    def _lists(self, viewer: Viewer) -> list[str]:
        return sorted(t for t in viewer.topics if t == PRESENCE or t.startswith("presence:"))

    def _page_snapshot(self, topic: str) -> bytes:
        if topic == PAGE:
            return b""
        if topic_device(topic) in self._dirty:
            # Its cached snapshot predates readings the next tick sends only as a tile
            # (nobody watched, so their minutes were not noted): build it anew.
            self._tiles.forget(topic)
        return self._tiles.snapshot(topic, self.log.last_id, self._clock)
