"""The log of readings the server refused (dead letters): at once, then at most every interval.

A server that refuses every reading (its clock is an hour off, a rule changed) would
otherwise write a log line per reading, forever. The first refusal is said at once;
later ones are counted and said together at most every `interval` seconds, and what is
still unsaid when the sender stops is said then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable


class RefusalLog:
    """Counts refused readings and logs them, rate-limited; one per sender."""

    def __init__(
        self, logger: logging.Logger, monotonic: Callable[[], float], interval: float
    ) -> None:
        self._logger = logger
        self._clock = monotonic
        self.interval = interval
        self._count = 0  # refused since the last line
        self._lost = 0  # dropped from the full dead-letter table since the last line
        self._latest = ""
        self._logged_at: float | None = None

    def refused(self, moved: int, dropped: int, latest: str) -> None:
        """Count readings moved to the dead-letter table (and dropped from it); maybe log."""
        self._count += moved
        self._lost += dropped
        self._latest = latest
        self.report()

    def report(self, *, now_or_never: bool = False) -> None:
        """Log what is not logged yet, if the interval has passed (or now, with now_or_never)."""
        if not self._count and not self._lost:
            return
        now = self._clock()
        logged = self._logged_at
        if not now_or_never and logged is not None and now - logged < self.interval:
            return
        count, lost, latest = self._count, self._lost, self._latest
        self._count, self._lost, self._latest, self._logged_at = 0, 0, "", now
        self._logger.warning(
            "the server refused %d reading(s)%s (the latest: %s); they are kept in the "
            "dead-letter table (`telemetry-agent dead-letters` lists them, `--requeue` sends "
            "them again)%s",
            count,
            "" if logged is None else f" in the last {now - logged:.0f} s",
            latest,
            f"; the table is full, so its {lost} oldest were dropped: look at why the server "
            "refuses them"
            if lost
            else "",
        )
