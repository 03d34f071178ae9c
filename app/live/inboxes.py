"""Each signed-in user's private topic: their unread count, toasts, what they read.

    notification stored ──commit──> bus ──> notify(toast, [(user, unread), ...])
        the toast rendered once (by the caller), each recipient's badge once,
        sent on `user:<id>` only: a frame about a user never goes on a shared topic

Only users with a stream here (or one that ended within the linger) are sent anything:
a notification to one user among thousands of viewers costs that user's streams, and
one to everyone costs one badge per user watching, whatever the number of their tabs.
The count each user's streams show is kept while they have one, so a second tab opens
without asking the database. The counts events carried are kept for RECENT a while,
watched or not: a stream whose count was read from the database just before a
notification was announced opens with the newer one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence

from app.live.frames import FrameEncoder
from app.live.lobby import Send, header
from app.live.streams import HubStats
from app.live.tiles import Renderer

USER_TOPIC_PREFIX = "user:"
RECENT = 30.0  # seconds an announced count is kept for the streams opening meanwhile


def user_topic(user_id: int) -> str:
    """The private topic of one user: only that user's streams carry it."""
    return f"{USER_TOPIC_PREFIX}{user_id}"


class Inboxes:
    """Unread counts of the users watching, and the frames of their private topics."""

    def __init__(self, renderer: Renderer, encode: FrameEncoder, stats: HubStats) -> None:
        self._renderer = renderer
        self._stats = stats
        self._encode = encode
        self._unread: dict[int, int] = {}
        self._recent: dict[int, tuple[int, float]] = {}  # user -> (count, monotonic)

    def unread(self, user_id: int) -> int | None:
        """The count this hub knows for a user (None: ask the database)."""
        return self._unread.get(user_id)

    def remember(self, user_id: int, count: int, counted_at: float = 0.0) -> None:
        """A user's count, as the database gave it at `counted_at` (monotonic) for a
        stream opening: an event announced since then knows better."""
        recent = self._recent.get(user_id)
        if recent is not None and recent[1] >= counted_at:
            count = recent[0]
        self._unread.setdefault(user_id, count)

    def prune(self, now: float) -> None:
        """Forget the announced counts older than RECENT (`now`: time.monotonic())."""
        old = [user for user, (_, at) in self._recent.items() if at < now - RECENT]
        for user_id in old:
            del self._recent[user_id]

    def forget(self, user_id: int) -> None:
        """A user has no stream left: their count may change unseen from now on."""
        self._unread.pop(user_id, None)

    def notify(
        self,
        toast: str,
        unread: Iterable[tuple[int, int]],
        watched: Callable[[str], bool],
        send: Send,
    ) -> int:
        """A toast and a new badge to each recipient watching; returns how many."""
        sent = 0
        at = time.monotonic()
        for user_id, count in unread:
            self._recent[user_id] = (count, at)
            topic = user_topic(user_id)
            if not watched(topic):
                continue
            if user_id in self._unread:
                self._unread[user_id] = count
            self._stats.badges += 1
            send(topic, [("toast", toast), ("unread", self._renderer.unread(count))])
            sent += 1
        return sent

    def read(
        self,
        user_id: int,
        count: int,
        ids: Sequence[int] | None,
        watched: Callable[[str], bool],
        send: Send,
    ) -> None:
        """A user read some (ids) or all (None) notifications: every tab of theirs hears."""
        topic = user_topic(user_id)
        self._recent[user_id] = (count, time.monotonic())
        if user_id in self._unread:
            self._unread[user_id] = count
        if watched(topic):
            read = json.dumps({"ids": "all" if ids is None else list(ids)})
            send(topic, [("unread", self._renderer.unread(count)), ("read", read)])

    def snapshot(self, user_id: int, last_id: str) -> bytes:
        """The badge a user's new stream starts with."""
        count = self._unread.get(user_id, 0)
        topic = user_topic(user_id)
        return header(self._encode, topic) + self._encode(
            "unread", self._renderer.unread(count), last_id
        )
