"""What the hub tells users rather than pages: notifications, reads, chart notes,
presence (LiveHub inherits this; the work is in inboxes.py and presence.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.live.frames import FrameLog
from app.live.inboxes import Inboxes
from app.live.presence import Presence, TabInfo
from app.live.streams import Streams
from app.live.tiles import device_topic


class Audience:
    """The notification and presence half of the live hub."""

    streams: Streams
    log: FrameLog
    _inboxes: Inboxes
    _presence: Presence

    def _send(self, topic: str, frames: list[tuple[str, str]]) -> None:
        raise NotImplementedError  # LiveHub's

    def notify(self, toast: str, unread: Iterable[tuple[int, int]]) -> int:
        """A notification's toast (rendered once) and each recipient's new unread count,
        to the streams of those recipients only, at once; returns how many users."""
        return self._inboxes.notify(toast, unread, self.streams.watched, self._send)

    def read(self, user_id: int, unread: int, ids: Sequence[int] | None) -> None:
        """A user read notifications (`ids`, or all: None): every tab of theirs hears."""
        self._inboxes.read(user_id, unread, ids, self.streams.watched, self._send)

    def unread(self, user_id: int) -> int | None:
        """A user's unread count as this hub knows it (None: not watching here)."""
        return self._inboxes.unread(user_id)

    def note_changed(self, device_id: int, data: str) -> None:
        """A chart note of a device was added, changed or deleted (`data`: its JSON)."""
        topic = device_topic(device_id)
        if self.streams.watched(topic):
            self._send(topic, [("notes", data)])

    def presence(self) -> list[TabInfo]:
        """Every tab counted now (the presence API lists them)."""
        return self._presence.tabs()
