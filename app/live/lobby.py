"""The "who is watching" lists: the whole list once per stream, then what changed.

    presence            everyone watching, each user once with their tab count: the
                        header of every page
    presence:<page>     who looks at this page (the overview, a device's page)

A new stream gets each list whole (`event: presence` / `watchers`, JSON
{"users": [[id, name, tabs], ...], "guests": n, "total": users}); after that, at each
tick, each list that changed is compared with what was last sent and only the
difference goes out, once for all who see it (`presence-diff` / `watchers-diff`:
{"set": [[id, name, tabs], ...], "gone": [ids], "guests": n, "total": users});
static/js/presence.js draws them. A list names at most LIST_MAX users, in name order,
and counts the rest: a header shows a dozen names, and with a thousand people watching
the whole list, sent to ten thousand streams at every join or leave, was gigabytes a
tick (docs/benchmarks.md); admins get everyone from GET /api/v1/presence. Applying
a difference twice changes nothing, so a replay is harmless. The whole list is encoded
once per change and shared by the streams opening meanwhile: a thousand tabs joining in
one second cost one list per tick, not one per tab. Names are data in JSON, never
markup: the browser sets them as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from app.live.frames import FrameEncoder
from app.live.presence import Presence
from app.live.streams import HubStats
from app.live.tiles import OVERVIEW, is_device_topic

PRESENCE = "presence"
PRESENCE_PREFIX = "presence:"

Send = Callable[[str, list[tuple[str, str]]], None]


def watchers_topic(page: str) -> str | None:
    """The topic of who looks at `page`, for the pages that show it."""
    return PRESENCE_PREFIX + page if page == OVERVIEW or is_device_topic(page) else None


def header(encode: FrameEncoder, route: str) -> bytes:
    """The frame before a group of frames: which topic (or view) they are for."""
    return encode("topic", route, None)


LIST_MAX = 40  # users a list names; the rest are counted

Row = tuple[str, int]  # a user's display name and tab count, as last sent
List = tuple[dict[int, Row], int, int]  # rows by user id, guests' tabs, users in all


class Lobby:
    """The presence lists as last sent, and the frames that bring them up to date."""

    def __init__(self, encode: FrameEncoder, presence: Presence, stats: HubStats) -> None:
        self._encode = encode
        self._presence = presence
        self._stats = stats
        self._sent: dict[str, List] = {}  # list topic -> as last sent
        self._snapshots: dict[str, bytes] = {}

    def flush(self, now: datetime, watched: Callable[[str], bool], send: Send) -> None:
        """Expire what left; for each changed list somebody sees, send the difference."""
        self._presence.expire(now)
        changed, pages = self._presence.take_changes()
        if not changed:
            return
        topics = [PRESENCE, *(t for page in pages if (t := watchers_topic(page)))]
        for topic in topics:
            before = self._sent.pop(topic, None)
            self._snapshots.pop(topic, None)
            if before is None or not watched(topic):
                continue  # nobody holds it: the next stream gets it whole
            rows, guests, total = after = self._rows(topic)
            self._sent[topic] = after
            old_rows = before[0]
            changed_rows = [
                [user_id, *row] for user_id, row in rows.items() if old_rows.get(user_id) != row
            ]
            gone = [user_id for user_id in old_rows if user_id not in rows]
            if changed_rows or gone or (guests, total) != before[1:]:
                diff = {"set": changed_rows, "gone": gone, "guests": guests, "total": total}
                send(topic, [(self._event(topic) + "-diff", json.dumps(diff))])

    def snapshot(self, topic: str, last_id: str) -> bytes:
        """A list whole, with its header, for a stream opening (encoded once a change)."""
        cached = self._snapshots.get(topic)
        if cached is None:
            sent = self._sent.get(topic)
            if sent is None:
                sent = self._sent[topic] = self._rows(topic)
            rows, guests, total = sent
            users = [[user_id, *row] for user_id, row in rows.items()]
            whole = {"users": users, "guests": guests, "total": total}
            data = self._encode(self._event(topic), json.dumps(whole), last_id)
            cached = self._snapshots[topic] = header(self._encode, topic) + data
        return cached

    def _rows(self, topic: str) -> List:
        self._stats.lists += 1
        page = None if topic == PRESENCE else topic[len(PRESENCE_PREFIX) :]
        entries, guests = self._presence.entries(page)
        named = entries[:LIST_MAX]
        return {entry.user_id: (entry.name, entry.tabs) for entry in named}, guests, len(entries)

    @staticmethod
    def _event(topic: str) -> str:
        return "presence" if topic == PRESENCE else "watchers"
