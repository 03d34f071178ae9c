"""Group commit: many requests, one transaction, each answered only after it is durable.

    request ─┐                      ┌ begin       (event loop; a thread if the lock is taken)
    request ─┼─> queue ─> writer ───┤ statements  (event loop, SQLite; thread, PostgreSQL)
    request ─┘    task              └ commit      (event loop, SQLite without fsync)
                                         │
                               fsync thread: one fsync for every group committed so far
                                         │
                  futures resolved, then events announced (announcer.py)

While one group is staged or synced, new requests queue up; the next transaction takes
all of them (up to `batch_rows` rows). Alone, a request waits for one commit and one
fsync; under load one transaction serves dozens of requests and one fsync several
transactions, so durable commits stay cheap.

Where each step runs is chosen for the GIL and for latency. With SQLite, statements of
an open IMMEDIATE transaction never wait for anyone, so they run on the event loop,
where they cost their CPU time and nothing more: run from a thread, their many small
GIL releases made the loop and the thread trade the GIL thousands of times a second.
The fsync, which does wait, runs in the fsync thread (fsync_thread.py, wal.py) while
the next group is staged. PostgreSQL statements wait on the network, so there the whole
transaction runs in the writer's thread. A full queue answers "overloaded" at once
(queue.py); refused writes are logged once as they start and once as they end (health.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from app.db import StorageUnavailable
from app.telemetry.events import MeasurementInserted
from app.telemetry.writing.announcer import Announcer, Publisher
from app.telemetry.writing.fsync_thread import FsyncThread
from app.telemetry.writing.group import WriteOutcome, WriteRequest
from app.telemetry.writing.health import WriteHealth
from app.telemetry.writing.queue import Overloaded, Pending, WriteQueue
from app.telemetry.writing.transaction import GroupTransaction
from app.telemetry.writing.wal import SyncFailed

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class WriterStats:
    """Counters for monitoring; read them, do not write them."""

    commits: int = 0
    requests: int = 0
    rows: int = 0
    failures: int = 0
    events_dropped: int = 0
    rollup_flushes: int = 0


class GroupCommitWriter:
    """Owns the request queue, the writer task and its thread, and the publisher task."""

    def __init__(
        self,
        transaction: GroupTransaction,
        publish: Publisher,
        *,
        queue_limit: int,
        batch_rows: int,
        queue_rows: int = 500_000,
        announce_queue_groups: int = 10_000,
        health: WriteHealth | None = None,
    ) -> None:
        self._tx = transaction
        self._announcer = Announcer(publish, max_groups=announce_queue_groups)
        self._batch_rows = batch_rows
        self._queue = WriteQueue(limit=queue_limit, rows_limit=queue_rows)
        self._wakeup: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._fsync: FsyncThread[tuple[list[Pending], list[WriteOutcome]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False
        self._flushed: asyncio.Event | None = None
        # Held while a transaction is open: between_writes waits for the gap between two.
        self._turn = asyncio.Lock()
        self.health = health or WriteHealth()
        self.stats = WriterStats()

    async def rebuild_rollups(self) -> None:
        """Before starting: fold in readings a previous run left out of the rollups."""
        try:
            with ThreadPoolExecutor(max_workers=1) as executor:
                rebuilt = await asyncio.get_running_loop().run_in_executor(
                    executor, self._tx.rebuild_rollups
                )
        except StorageUnavailable as error:
            # Start anyway (/readyz says why); the pending minutes stay marked and are
            # rebuilt at the next start.
            self._note_unavailable(error)
            return
        if rebuilt:
            logger.warning("rebuilt the rollups of %d minutes a previous run left pending", rebuilt)

    def start(self) -> None:
        """Start the writer and the publisher; call from the event loop that submits."""
        loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._flushed = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telemetry-writer")
        if self._tx.wal is not None:
            self._fsync = FsyncThread(self._tx.wal, loop, self._deliver_synced)
        self._announcer.start()
        self._tasks = [loop.create_task(self._run(), name="telemetry-writer")]
        self._accepting = True

    async def stop(self) -> None:
        """Refuse new requests, store everything already queued, publish it, then stop."""
        if not self._tasks:
            return
        self._accepting = False
        assert self._wakeup is not None
        self._wakeup.set()
        (writer,) = self._tasks
        self._tasks = []
        await writer
        if self._fsync is not None:
            await asyncio.to_thread(self._fsync.stop)
            self._fsync = None
            await asyncio.sleep(0)  # run the deliveries the fsync thread scheduled
        await self._announcer.stop()
        assert self._executor is not None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._tx.close)
        self._executor.shutdown(wait=True)

    def queue_depth(self) -> int:
        """Requests waiting for a transaction."""
        return len(self._queue)

    async def submit(self, request: WriteRequest) -> WriteOutcome:
        """Queue a request and wait until its transaction has committed."""
        if not self._accepting or self._wakeup is None:
            raise Overloaded("the server is shutting down", retry_after=5)
        refusal = self.health.permanent_refusal()
        if refusal is not None:
            raise refusal
        future = self._queue.put(request)
        self._wakeup.set()
        return await future

    async def between_writes(self, work: Callable[[], T]) -> T:
        """Run blocking `work` in the writer's thread between two transactions, after
        every committed value is in the rollups; then forget the series ids it knew.

        For changes that delete series: the writer must neither fold values into the
        rollups of a series that is gone nor write to one by a remembered id.
        """
        if self._executor is None or not self._tasks:
            return await asyncio.to_thread(work)  # no writer running: nothing to wait for
        loop = asyncio.get_running_loop()
        async with self._turn:
            if self._tx.rollups_unflushed:
                await loop.run_in_executor(self._executor, self._tx.flush_rollups)
            try:
                return await loop.run_in_executor(self._executor, work)
            finally:
                self._tx.forget_devices()

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                if not self._accepting:
                    async with self._turn:
                        await self._flush_rollups()
                    return
                self._wakeup.clear()
                if self._tx.rollups_due:
                    async with self._turn:
                        await self._flush_rollups()
                # Idle: still wake up to fold the last values into the rollups; with
                # none left out, only a request or stop() wakes the writer (with a flush
                # interval of 0 a timeout would spin). Not wait_for: see live/tasks.py.
                idle = self._tx.flush_interval if self._tx.rollups_unflushed else None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle):
                        await self._wakeup.wait()
                continue
            group = self._queue.take(self._batch_rows)
            refusal = self.health.permanent_refusal()
            if refusal is not None:
                self._deliver(group, [WriteOutcome(error=refusal) for _ in group])
                continue
            async with self._turn:
                outcomes, committed = await self._write(group)
            if committed and self._fsync is not None:
                self._fsync.submit((group, outcomes))
            else:
                self._deliver(group, outcomes)

    async def _flush_rollups(self) -> None:
        if not self._tx.rollups_due and self._accepting:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._tx.flush_rollups)
        except StorageUnavailable as error:
            # The values are committed and marked pending: a later flush, or the
            # rebuild at start-up, folds them in.
            self._note_unavailable(error)
            return
        self.health.succeeded()
        self.stats.rollup_flushes += 1
        assert self._flushed is not None
        self._flushed.set()
        self._flushed = asyncio.Event()

    async def rollups_flushed(self) -> None:
        """Wait until the writer next writes the rollups, on its own (when idle) or not.

        For callers that read history right after writing and would rather not poll.
        """
        assert self._flushed is not None, "start() first"
        await self._flushed.wait()

    async def _write(self, group: list[Pending]) -> tuple[list[WriteOutcome], bool]:
        """One transaction for the group; after an unexpected failure, one per request.

        Returns the outcomes and whether anything was committed.
        """
        requests = [p.request for p in group]
        try:
            outcomes = await self._run_transaction(requests)
        except StorageUnavailable as error:
            self._note_unavailable(error)
            return [WriteOutcome(error=error) for _ in group], False
        except Exception:
            if len(group) == 1:
                self.stats.failures += 1
                logger.exception("storing a request failed; it was answered 503")
                failure = StorageUnavailable("the readings could not be stored", retry_after=30)
                return [WriteOutcome(error=failure)], False
            # Something about one request broke the shared transaction: store each request
            # on its own, so that only the one at fault fails.
            results = [await self._write([pending]) for pending in group]
            return [r[0][0] for r in results], any(r[1] for r in results)
        self.health.succeeded()
        self.stats.commits += 1
        self.stats.requests += len(requests)
        self.stats.rows += sum(o.stored for o in outcomes)
        return outcomes, True

    def _note_unavailable(self, error: StorageUnavailable) -> None:
        self.stats.failures += 1
        self.health.failed(error)

    async def _run_transaction(self, requests: list[WriteRequest]) -> list[WriteOutcome]:
        loop = asyncio.get_running_loop()
        tx = self._tx
        if tx.statements_block:
            return await loop.run_in_executor(self._executor, tx.write, requests)
        if not tx.begin(wait=False):
            await loop.run_in_executor(self._executor, tx.begin)
        try:
            outcomes = tx.stage(requests)
        except BaseException:
            await loop.run_in_executor(self._executor, tx.rollback)
            raise
        if tx.wal is not None:
            tx.commit()  # no fsync here: the fsync thread syncs before anyone is answered
        else:
            await loop.run_in_executor(self._executor, tx.commit)
        return outcomes

    def _deliver_synced(
        self, batch: tuple[list[Pending], list[WriteOutcome]], error: StorageUnavailable | None
    ) -> None:
        """From the fsync thread: the group is durable (or the sync failed: answer 503)."""
        group, outcomes = batch
        if isinstance(error, SyncFailed):
            self.health.poison(error)
            refusal = self.health.permanent_refusal()
            outcomes = [WriteOutcome(error=refusal) for _ in group]
        elif error is not None:
            # Committed, not yet synced, not lost: a resend is answered only after a
            # later fsync succeeds, which covers this group too.
            self._note_unavailable(error)
            outcomes = [WriteOutcome(error=error) for _ in group]
        self._deliver(group, outcomes)

    def _deliver(self, group: list[Pending], outcomes: list[WriteOutcome]) -> None:
        """Answer each request, then queue the group's events for the publisher."""
        events: list[MeasurementInserted] = []
        for pending, outcome in zip(group, outcomes, strict=True):
            events.extend(outcome.events)
            if not pending.future.done():  # the client may have gone away
                pending.future.set_result(outcome)
        self._announcer.add(events)
        self.stats.events_dropped = self._announcer.dropped
