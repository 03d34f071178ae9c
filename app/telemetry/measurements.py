"""The measurements context: the one door through which readings are stored and announced.

Routes call `record`; nothing else inserts measurement rows. Events are published only
by this context, only after the transaction that stored them has committed, and only
for values that were new (see `subscribe` for their shape).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Engine

from app.bus import Bus, Subscription
from app.config import Settings
from app.db import StorageUnavailable
from app.telemetry.clock import Clock, utc_now
from app.telemetry.devices import DeviceRef
from app.telemetry.events import MeasurementInserted
from app.telemetry.readings import Reading, RecordResult
from app.telemetry.writing.group import WriteRequest
from app.telemetry.writing.health import WriteHealth
from app.telemetry.writing.rollups import FLUSH_INTERVAL
from app.telemetry.writing.transaction import GroupTransaction
from app.telemetry.writing.writer import GroupCommitWriter, WriterStats

T = TypeVar("T")


class Measurements:
    """Stores readings through the group-commit writer and announces them on the bus."""

    def __init__(
        self,
        engine: Engine,
        bus: Bus,
        *,
        queue_limit: int,
        batch_rows: int,
        max_quantities_per_device: int,
        busy_timeout_ms: int = 5000,
        durable: bool = True,
        queue_rows: int = 500_000,
        announce_queue_groups: int = 10_000,
        rollup_flush_seconds: float = FLUSH_INTERVAL,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._transaction = GroupTransaction(
            engine,
            max_quantities_per_device=max_quantities_per_device,
            busy_timeout_ms=busy_timeout_ms,
            durable=durable,
            flush_interval=rollup_flush_seconds,
            monotonic=monotonic,
        )
        self._writer = GroupCommitWriter(
            self._transaction,
            self._broadcast,
            queue_limit=queue_limit,
            batch_rows=batch_rows,
            queue_rows=queue_rows,
            announce_queue_groups=announce_queue_groups,
            health=WriteHealth(clock=clock, monotonic=monotonic),
        )

    @classmethod
    def from_settings(
        cls, engine: Engine, bus: Bus, settings: Settings, *, clock: Clock = utc_now
    ) -> Measurements:
        """The measurements context as `settings` configure it (the server's and the CLI's)."""
        return cls(
            engine,
            bus,
            queue_limit=settings.write_queue_limit,
            queue_rows=settings.write_queue_rows,
            batch_rows=settings.write_batch_rows,
            max_quantities_per_device=settings.max_quantities_per_device,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            durable=settings.sqlite_synchronous == "FULL",
            announce_queue_groups=settings.announce_queue_groups,
            rollup_flush_seconds=settings.rollup_flush_seconds,
            clock=clock,
        )

    async def start(self, *, rebuild_pending: bool = True) -> None:
        """Rebuild rollups a previous run left pending, then start the writer.

        rebuild_pending=False is for a process that writes beside a running server (the
        CSV import): the minutes marked pending may be the server's, whose deltas it
        still holds in memory and will add at its next flush; rebuilding them would
        count those values twice. Such a process must flush with every group
        (rollup_flush_seconds=0), so that it never marks minutes pending either.
        """
        if rebuild_pending:
            await self._writer.rebuild_rollups()
        self._writer.start()

    async def stop(self) -> None:
        """Store what is queued, then stop accepting readings."""
        await self._writer.stop()

    @property
    def stats(self) -> WriterStats:
        """Writer counters, for metrics."""
        return self._writer.stats

    def queue_depth(self) -> int:
        """Requests waiting for the writer, for metrics."""
        return self._writer.queue_depth()

    def write_refusal(self) -> StorageUnavailable | None:
        """Why writes fail now, or None while they work (what /readyz reports).

        A failed fsync refuses every write until a restart; any other refusal (the disk
        full, the database locked or unreachable) lasts until a write commits again.
        """
        return self._writer.health.refusal()

    def wal_bytes(self) -> int:
        """The size of SQLite's write-ahead log, for metrics (0 elsewhere)."""
        wal = self._transaction.wal
        return wal.size() if wal is not None else 0

    async def rollups_flushed(self) -> None:
        """Wait until the writer next folds committed values into the rollups."""
        await self._writer.rollups_flushed()

    async def between_writes(self, work: Callable[[], T]) -> T:
        """Run blocking `work` between two write transactions, every committed value
        rolled up first: the way to delete a device (Devices.delete) while writing."""
        return await self._writer.between_writes(work)

    async def record(
        self, device: DeviceRef, readings: Sequence[Reading], *, received_at: datetime
    ) -> RecordResult:
        """Store the readings of one request; returns once they are committed.

        The readings' values must have passed quantities.check_value (the web layer
        checks them while parsing, where it can say which field is wrong). Raises
        QuantityLimitExceeded when the device would get too many quantities (nothing of
        the request is stored), and StorageUnavailable when the database cannot take
        writes now.
        """
        outcome = await self._writer.submit(WriteRequest(device, readings, received_at))
        if outcome.error is not None:
            raise outcome.error
        return RecordResult(stored=outcome.stored, duplicates=outcome.duplicates)

    def subscribe(self, *, maxsize: int | None = None) -> Subscription[MeasurementInserted]:
        """Receive a `MeasurementInserted` for every measurement stored from now on.

        One event per stored measurement (one device, one measured_at), carrying only the
        values that were new; published after the commit; never for a duplicate or a
        rolled-back write. Events of one transaction arrive in the order of the requests.
        """
        return self._bus.subscribe(MeasurementInserted, maxsize=maxsize)

    async def _broadcast(self, events: Sequence[MeasurementInserted]) -> None:
        for event in events:
            await self._bus.publish(event)
