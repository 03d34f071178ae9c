"""How long the sender waits before its next attempt, for each kind of failed attempt.

    no answer, 5xx, 408   exponential backoff with full jitter: uniform(0, min(max, base × 2^n))
    429, 503              Retry-After (at most retry_after_max) plus up to 20 %; backoff without it
    401, 403, misdirected backoff_max: a person has to act, so retry slowly meanwhile

Full jitter spreads a fleet of agents that lost the server at the same moment, so they
do not all come back at once.
"""

from __future__ import annotations

import random

from device.answers import Verdict

# A fleet told "Retry-After: 60" comes back over 60 to 72 s, not all at 60.
RETRY_AFTER_SPREAD = 1.2


class Backoff:
    """Exponential backoff with full jitter: uniform(0, min(max, base × 2^attempt))."""

    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self._base = base
        self._cap = cap
        self._rng = rng
        self.attempt = 0

    def next(self) -> float:
        """The next delay; each call doubles the ceiling up to the cap."""
        ceiling = min(self._cap, self._base * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        """Start again from the base after a success."""
        self.attempt = 0


class RetryPolicy:
    """The delay before the next attempt after a failed one (the table above)."""

    def __init__(self, base: float, cap: float, retry_after_max: float, rng: random.Random) -> None:
        self._backoff = Backoff(base, cap, rng)
        self._cap = cap
        self._retry_after_max = retry_after_max
        self._rng = rng

    def after(self, verdict: Verdict, retry_after: float | None) -> float:
        """Seconds to wait after an attempt that ended with `verdict`."""
        if retry_after is not None:
            retry_after = min(retry_after, self._retry_after_max)
        if verdict in (Verdict.REFUSED, Verdict.MISDIRECTED):
            return self._cap
        if verdict is Verdict.THROTTLED and retry_after is not None:
            return retry_after * self._rng.uniform(1.0, RETRY_AFTER_SPREAD)
        return max(self._backoff.next(), retry_after or 0.0)

    def after_fault(self) -> float:
        """Seconds to wait after an attempt that failed in a way nobody foresaw."""
        return self._backoff.next()

    def reset(self) -> None:
        """Start again from the base: an attempt succeeded."""
        self._backoff.reset()
