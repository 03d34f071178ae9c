"""Whether the write path takes writes now, and why not: what /readyz reports.

    ok ──a write refused (locked, full, unreachable)──> down ──a write commits──> ok
    ok or down ──an fsync fails──> refusing every write until the server is restarted

The first is a DependencyHealth (device/health.py): one log line when the database
starts refusing writes, one when a write commits again. The second lasts: after a
failed fsync the kernel may have dropped pages it could not write, and a later fsync
can succeed without them, so what was committed may be lost. Answering and accepting
more would let a resend pass as a duplicate of data that is not on disk; as databases
do, the writer stops until a restart lets SQLite recover from what the disk holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from app.db import StorageUnavailable
from app.telemetry.clock import Clock, utc_now
from device.health import DependencyHealth

logger = logging.getLogger(__name__)


class WriteHealth:
    """The writer's state: the database's latest refusal, and a failed fsync for good."""

    def __init__(
        self, *, clock: Clock = utc_now, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.database = DependencyHealth(
            logger,
            down="cannot store readings: {reason}; ingest answers 503 until the database "
            "recovers (check the disk and the database server)",
            up="storing readings again after {seconds:.0f} s of: {reason}",
            monotonic=monotonic,
            wall=clock,
        )
        self.sync_failure: str | None = None
        self._retry_after = 5

    def failed(self, error: StorageUnavailable) -> None:
        """The database refused a write (or its sync) for a reason that may pass."""
        self._retry_after = error.retry_after
        self.database.failed(error.reason)

    def succeeded(self) -> None:
        """A transaction committed."""
        self.database.succeeded()

    def poison(self, error: StorageUnavailable) -> None:
        """An fsync failed: refuse every write from now on (see the module docstring)."""
        if self.sync_failure is None:
            self.sync_failure = error.reason
            logger.error(
                "%s: no more writes are accepted; check the disk, then restart the server",
                error.reason,
            )

    def permanent_refusal(self) -> StorageUnavailable | None:
        """The refusal every write gets after a failed fsync, or None."""
        if self.sync_failure is None:
            return None
        return StorageUnavailable(
            f"{self.sync_failure}; the server takes no writes until it is restarted",
            retry_after=60,
        )

    def refusal(self) -> StorageUnavailable | None:
        """Why writes fail now (what /readyz answers), or None while they work."""
        permanent = self.permanent_refusal()
        if permanent is not None or not self.database.down:
            return permanent
        return StorageUnavailable(self.database.describe(), retry_after=self._retry_after)
