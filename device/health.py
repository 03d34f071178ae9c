"""The state of one dependency (a database, a sensor, a server): down since when, and why.

    ok ──failed(reason)──> down ──failed(...)──> down ──succeeded()──> ok
        log once: down          (counted, silent)       log once: recovered

Whatever fails a thousand times a second writes two log lines: one when it goes down,
one when it comes back, saying for how long. The state it keeps (`down`, `reason`,
`since`, `failures`) is what health reports show: the server's /readyz, the agent's
`telemetry-agent status`. Home Assistant's DataUpdateCoordinator logs the same way.

Standard library only: the agent, which imports nothing of the server, and the server
share this one class (the server may import nothing else of `device`; see the
import-linter contracts in pyproject.toml).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime


class DependencyHealth:
    """Logs when a dependency goes down, once, and when it recovers; remembers the state.

    `down` and `up` are the log messages, formatted with `{reason}` (the latest failure),
    `{seconds}` (how long it was down, in `up`) and `{failures}` (failed attempts since
    it went down). Not thread-safe: use one from one thread, or behind the caller's lock.
    """

    __slots__ = (
        "_clock",
        "_down_level",
        "_down_message",
        "_logger",
        "_on_change",
        "_up_level",
        "_up_message",
        "_wall",
        "failures",
        "reason",
        "since",
        "since_wall",
    )

    def __init__(
        self,
        logger: logging.Logger,
        *,
        down: str,
        up: str,
        down_level: int = logging.WARNING,
        up_level: int = logging.INFO,
        on_change: Callable[[DependencyHealth], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] | None = None,
    ) -> None:
        self._logger = logger
        self._down_message = down
        self._up_message = up
        self._down_level = down_level
        self._up_level = up_level
        self._on_change = on_change
        self._clock = monotonic
        self._wall = wall or (lambda: datetime.now(UTC))
        self.reason: str | None = None  # the latest failure, while down
        self.since: float | None = None  # monotonic time it went down
        self.since_wall: datetime | None = None  # the same, as a wall-clock time
        self.failures = 0  # failed attempts since it went down

    @property
    def down(self) -> bool:
        """True from the first failure until the next success."""
        return self.reason is not None

    def failed(self, reason: str) -> bool:
        """Note a failure; True (and one log line) if the dependency was up until now."""
        self.failures += 1
        was_up = self.reason is None
        self.reason = reason
        if not was_up:
            return False
        self.since = self._clock()
        self.since_wall = self._wall()
        self._logger.log(
            self._down_level,
            self._down_message.format(reason=reason, failures=self.failures, seconds=0.0),
        )
        if self._on_change is not None:
            self._on_change(self)
        return True

    def succeeded(self) -> bool:
        """Note a success; True (and one log line) if the dependency was down until now."""
        if self.reason is None:
            return False
        seconds = self._clock() - (self.since or 0.0)
        message = self._up_message.format(
            reason=self.reason, failures=self.failures, seconds=seconds
        )
        self.reason, self.since, self.since_wall, self.failures = None, None, None, 0
        self._logger.log(self._up_level, message)
        if self._on_change is not None:
            self._on_change(self)
        return True

    def describe(self) -> str:
        """`ok`, or what failed and since when, for status reports."""
        if self.reason is None or self.since_wall is None:
            return "ok"
        since = self.since_wall.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"failing since {since}: {self.reason}"
