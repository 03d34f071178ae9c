"""Server-sent event frames, and the log of recent ones a reconnecting viewer can replay.

Frames are encoded once, to bytes, and the same bytes go to every viewer (the encoder
is given: the web layer's, built on sse-starlette's ServerSentEvent). The frames a
topic gets in one tick are kept together as one entry of the log, so a log of N entries
covers N ticks whatever the number of devices; it is bounded by entries and by bytes
(one overview tick of a large fleet can carry hundreds of tiles). Event ids are
`<run>-<sequence>`: the run changes at every start of the server, so an id from before
a restart is recognised as unknown and answered with a fresh snapshot. Replaying a
frame twice is harmless: every frame replaces an element by id.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

# One server-sent event as bytes: (event name, data, id or None).
FrameEncoder = Callable[[str, str, str | None], bytes]


@dataclass(frozen=True, slots=True)
class Entry:
    """The frames of one topic in one tick, as sent."""

    last: int
    topic: str
    data: bytes


class FrameLog:
    """Numbers frames and keeps the last `size` ticks' worth of each topic for replay."""

    def __init__(self, encode: FrameEncoder, size: int, max_bytes: int) -> None:
        self._encode = encode
        self.run = secrets.token_hex(4)
        self._sequence = 0
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._recent: deque[Entry] = deque()
        self._forgotten = 0  # the newest sequence that fell out of the log
        self._gaps: dict[str, int] = {}  # topic -> sequence after which frames were not kept

    @property
    def last_id(self) -> str:
        """The id of the newest frame (what a snapshot stands for)."""
        return f"{self.run}-{self._sequence}"

    def append(self, topic: str, frames: Iterable[tuple[str, str]], header: bytes = b"") -> bytes:
        """Encode (event, data) frames with the next ids, keep them, return the bytes.

        `header` (already encoded, without an id) goes before them, in the log too: it
        says which topic the frames are of, on a stream that carries several.
        """
        parts = [header] if header else []
        for event, data in frames:
            self._sequence += 1
            parts.append(self._encode(event, data, f"{self.run}-{self._sequence}"))
        blob = b"".join(parts)
        if len(parts) > bool(header):
            self._recent.append(Entry(self._sequence, topic, blob))
            self._bytes += len(blob)
            while len(self._recent) > self._size or self._bytes > self._max_bytes:
                oldest = self._recent.popleft()
                self._bytes -= len(oldest.data)
                self._forgotten = oldest.last
        return blob

    @property
    def size_bytes(self) -> int:
        """What the kept entries weigh."""
        return self._bytes

    def gap(self, topic: str) -> None:
        """Updates of `topic` from now on may be left out: replays across it are refused."""
        self._gaps[topic] = self._sequence

    def since(self, topics: str | Collection[str], last_event_id: str | None) -> list[bytes] | None:
        """The frames of `topics` after `last_event_id`, or None if they cannot all be given.

        None means: no id, an id from another run, or one older than the log holds; the
        viewer needs a snapshot instead.
        """
        if not last_event_id:
            return None
        run, _, number = last_event_id.partition("-")
        # Ids are ours, so anything but a short run of ASCII digits is not one ("²" is a
        # digit to str.isdigit, and int() refuses strings of thousands of digits).
        if run != self.run or not (number.isascii() and number.isdigit()) or len(number) > 18:
            return None
        sequence = int(number)
        wanted = {topics} if isinstance(topics, str) else set(topics)
        if sequence > self._sequence or any(self._gaps.get(t, -1) >= sequence for t in wanted):
            return None
        if sequence < self._forgotten:
            return None  # entries after `sequence` fell out of the log
        return [e.data for e in self._recent if e.last > sequence and e.topic in wanted]
