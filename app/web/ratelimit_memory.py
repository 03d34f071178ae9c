"""An in-memory moving-window storage for `limits`, with O(1) work per request.

The stock `async+memory://` storage keeps each key's hits in a list that grows at the
front, and after every hit schedules a sweep that hands every key to a thread in turn;
under a few thousand requests per second that sweep costs more than the request itself.
This storage keeps each key's hit times in a deque, oldest first: a hit appends on the
right, expired hits fall off the left, and keys left idle for a whole window are swept
once a second. Memory is bounded by the limit per key and by the keys active in a window.

It registers the scheme `async+window-memory://` with `limits`, which builds it from the
rate-limit storage URL like any other storage. Its clock (wall time in seconds) is a
constructor argument, which RateLimiter passes through `limits` (tests move it by hand).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from limits.aio.storage import MovingWindowSupport, Storage

_SWEEP_INTERVAL = 1.0
# Beyond this many keys the oldest are forgotten; they are clients that would have
# to send many requests at once to matter, and the cap bounds what a flood can cost.
MAX_KEYS = 100_000


class _Window:
    __slots__ = ("expiry", "hits")

    def __init__(self, expiry: int) -> None:
        self.hits: deque[float] = deque()
        self.expiry = expiry

    def trim(self, now: float) -> None:
        cutoff = now - self.expiry
        hits = self.hits
        while hits and hits[0] <= cutoff:
            hits.popleft()


class WindowMemoryStorage(Storage, MovingWindowSupport):
    """Moving-window hits per key, in this process's memory."""

    STORAGE_SCHEME = ["async+window-memory"]  # noqa: RUF012  (the attribute limits reads)

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        clock: Callable[[], float] = time.time,
        max_keys: int = MAX_KEYS,
        **_: str,
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[str, _Window] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        self._next_sweep = clock() + _SWEEP_INTERVAL

    def __len__(self) -> int:
        """Keys counted now (at most `max_keys`)."""
        return len(self._windows)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = self._clock()
        self._sweep(now)
        window = self._windows.get(key)
        if window is None:
            max_keys = self._max_keys
            if len(self._windows) >= max_keys:
                self._next_sweep = 0
                self._sweep(now)
                for oldest in list(self._windows)[: max(0, len(self._windows) - max_keys + 1)]:
                    del self._windows[oldest]
            window = self._windows[key] = _Window(expiry)
        window.trim(now)
        if len(window.hits) + amount > limit:
            return False
        window.hits.extend([now] * amount)
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self._clock()
        window = self._windows.get(key)
        if window is None:
            return now, 0
        window.trim(now)
        if not window.hits:
            return now, 0
        # The moment the oldest hit in the window leaves it is when a slot frees up.
        return window.hits[0], len(window.hits)

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_INTERVAL
        for key, window in list(self._windows.items()):
            window.trim(now)
            if not window.hits:
                del self._windows[key]
        for key, (_, expires) in list(self._counters.items()):
            if expires <= now:
                del self._counters[key]

    # Fixed-window counters: `limits` requires them of every storage; unused by the server.

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._clock()
        count, expires = self._counters.get(key, (0, now + expiry))
        if expires <= now:
            count, expires = 0, now + expiry
        self._counters[key] = (count + amount, expires)
        return count + amount

    async def get(self, key: str) -> int:
        count, expires = self._counters.get(key, (0, 0.0))
        return count if expires > self._clock() else 0

    async def get_expiry(self, key: str) -> float:
        return self._counters.get(key, (0, self._clock()))[1]

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        count = len(self._windows) + len(self._counters)
        self._windows.clear()
        self._counters.clear()
        return count

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)
        self._counters.pop(key, None)
