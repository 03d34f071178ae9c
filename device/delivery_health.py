"""Whether readings reach the server: two dependencies, each logged once down and once up.

    trouble                       dependency  said when it starts    said when readings are
                                                                     acknowledged again
    no answer, 5xx, 408, 429, 503 server      warning: it passes     delivering again after N s
    401, 403, not the server      access      error: a person acts   accepted again after N s

However many attempts fail, the log gets one line when a trouble starts and one when
it ends. A trouble that changes kind (the server comes back, but refuses the token) is
said once more, at the level its kind needs. After every attempt the state (`describe`)
is passed to `note`, which keeps the spool's `health.delivery` note for
`telemetry-agent status`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from device.answers import Verdict
from device.clock import Clock
from device.health import DependencyHealth

# Answers no amount of waiting fixes: a token or a URL has to change.
PERSON_MUST_ACT = frozenset({Verdict.REFUSED, Verdict.MISDIRECTED})


class DeliveryHealth:
    """The server's and the access's DependencyHealth, and the note they keep for status."""

    def __init__(self, logger: logging.Logger, clock: Clock, note: Callable[[str], None]) -> None:
        self._note = note
        self.server = DependencyHealth(
            logger,
            down="{reason}",
            up="delivering again after {seconds:.0f} s ({failures} failed attempt(s))",
            monotonic=clock.monotonic,
            wall=clock.now,
        )
        self.access = DependencyHealth(
            logger,
            down="{reason}",
            up="the server accepts this agent's readings again after {seconds:.0f} s",
            down_level=logging.ERROR,
            monotonic=clock.monotonic,
            wall=clock.now,
        )

    @property
    def down(self) -> bool:
        """True while readings do not reach the server."""
        return self.server.down or self.access.down

    def failed(self, verdict: Verdict, message: str) -> None:
        """An attempt failed with `verdict`; `message` says why and what to do."""
        (self.access if verdict in PERSON_MUST_ACT else self.server).failed(message)
        self._note(self.describe())

    def delivered(self) -> None:
        """The server acknowledged readings: every trouble is over."""
        self.access.succeeded()
        self.server.succeeded()
        self._note(self.describe())

    def describe(self) -> str:
        """`ok`, or the trouble that needs a person first, then the one that passes."""
        for health in (self.access, self.server):
            if health.down:
                return health.describe()
        return "ok"
