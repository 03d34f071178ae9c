"""Who is watching: every open tab, by user and by page, with a grace before a leave.

Derived from the streams the hub holds. A tab is a browser tab (its id survives page
navigation and reloads in that tab); a view is one page load in a tab. A tab counts
while any of its views is here or leaving:

    view joins ──> counted at once
    view leaves ──> still counted for a grace ──> gone (unless its tab joined again)
                      NAVIGATION_GRACE   the page said it was going (a navigation, a
                                         closed tab): the next page of the same tab
                                         joins well within it, so nothing flickers
                      RECONNECT_GRACE    its stream just ended (a network blip): the
                                         browser reconnects within its retry delay
                      0                  its stream was cut for taking nothing (a
                                         closed laptop): it is gone

Changes are not sent as they happen: the hub asks `take_changes` once per tick and
renders each changed list once for all viewers (lobby.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.live.presence_entry import PresenceEntry

NAVIGATION_GRACE = timedelta(seconds=0.8)
RECONNECT_GRACE = timedelta(seconds=5)

# A view is known by who holds it (the session: a stream's owner, see hub.py) and its
# id, so nobody can make another's view leave by sending its id.
ViewKey = tuple[int, str]


@dataclass(slots=True)
class PresentView:
    """One page load of one tab."""

    user_id: int  # 0: somebody not signed in (a public dashboard's guest)
    name: str
    tab: str
    topic: str
    since: datetime
    leaving_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class TabInfo:
    """One open tab as the presence API lists it."""

    user_id: int
    name: str
    tab: str
    topic: str
    since: datetime


class Presence:
    """Every view, by page topic, and which lists changed since the last look."""

    def __init__(self) -> None:
        self._views: dict[ViewKey, PresentView] = {}
        self._by_topic: dict[str, set[ViewKey]] = {}
        self._leaving: set[ViewKey] = set()
        self._changed_pages: set[str] = set()
        self._changed = False

    def join(
        self, key: ViewKey, user_id: int, name: str, tab: str, topic: str, at: datetime
    ) -> None:
        """A view opened (or came back within its grace)."""
        view = self._views.get(key)
        if view is not None:
            if view.topic == topic:
                view.leaving_until = None  # back in time (if it left): nobody saw it go
                self._leaving.discard(key)
                return
            self._drop(key)
        self._views[key] = PresentView(user_id, name, tab, topic, at)
        self._by_topic.setdefault(topic, set()).add(key)
        self._mark(topic)

    def leave(self, key: ViewKey, at: datetime, grace: timedelta) -> None:
        """A view went; it stays counted for `grace` (see the module's doc)."""
        view = self._views.get(key)
        if view is None:
            return
        if grace <= timedelta(0):
            self._drop(key)
            return
        until = at + grace
        if view.leaving_until is None or until < view.leaving_until:
            view.leaving_until = until
            self._leaving.add(key)

    def expire(self, now: datetime) -> None:
        """Drop the views whose grace is over."""
        for key in [k for k in self._leaving if (self._views[k].leaving_until or now) <= now]:
            self._drop(key)

    def take_changes(self) -> tuple[bool, set[str]]:
        """Whether anything changed since the last call, and on which pages."""
        changed, pages = self._changed, self._changed_pages
        self._changed, self._changed_pages = False, set()
        return changed, pages

    def entries(self, topic: str | None = None) -> tuple[list[PresenceEntry], int]:
        """Each signed-in user once with their tab count (on `topic`, or anywhere), in
        name order, and the number of guests' tabs."""
        keys = self._views.keys() if topic is None else self._by_topic.get(topic, ())
        tabs: dict[int, set[str]] = {}
        first: dict[int, PresentView] = {}
        guests: set[str] = set()
        for key in keys:
            view = self._views[key]
            if not view.user_id:
                guests.add(view.tab)
                continue
            tabs.setdefault(view.user_id, set()).add(view.tab)
            known = first.get(view.user_id)
            if known is None or view.since < known.since:
                first[view.user_id] = view
        entries = [
            PresenceEntry(user_id, view.name, len(tabs[user_id]), view.since)
            for user_id, view in first.items()
        ]
        entries.sort(key=lambda e: (e.name.casefold(), e.user_id))
        return entries, len(guests)

    def tabs(self) -> list[TabInfo]:
        """Every tab counted now, once, on the page its newest view shows."""
        newest: dict[tuple[int, str], PresentView] = {}
        for view in self._views.values():
            known = newest.get((view.user_id, view.tab))
            if known is None or view.since >= known.since:
                newest[(view.user_id, view.tab)] = view
        return [TabInfo(v.user_id, v.name, v.tab, v.topic, v.since) for v in newest.values()]

    def topics_watched(self) -> Counter[str]:
        """How many views each page has (for metrics and tests)."""
        return Counter({topic: len(keys) for topic, keys in self._by_topic.items()})

    def _drop(self, key: ViewKey) -> None:
        view = self._views.pop(key)
        self._leaving.discard(key)
        keys = self._by_topic.get(view.topic)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_topic[view.topic]
        self._mark(view.topic)

    def _mark(self, topic: str) -> None:
        self._changed = True
        self._changed_pages.add(topic)
