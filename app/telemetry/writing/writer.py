"""Group commit: many requests, one transaction, each answered only after it is durable.

    request ─┐                      ┌ begin       (event loop; a thread if the lock is taken)
    request ─┼─> queue ─> writer ───┤ statements  (event loop, SQLite; thread, PostgreSQL)
    request ─┘    task              └ commit      (event loop, SQLite without fsync)
                                         │
                               flusher thread: one fsync for every group committed so far
                                         │
                  futures resolved, then events published

While one group is staged or synced, new requests queue up; the next transaction takes
all of them (up to `batch_rows` rows). Alone, a request waits for one commit and one
fsync; under load one transaction serves dozens of requests and one fsync several
transactions, so durable commits stay cheap.

Where each step runs is chosen for the GIL and for latency. With SQLite, statements of
an open IMMEDIATE transaction never wait for anyone, so they run on the event loop,
where they cost their CPU time and nothing more: run from a thread, their many small
GIL releases made the loop and the thread trade the GIL thousands of times a second.
The fsync, which does wait, runs in the flusher thread (flusher.py, wal.py) while the
next group is staged. PostgreSQL statements wait on the network, so there the whole
transaction runs in the writer's thread. A full queue answers "overloaded" at once
instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from app.db import StorageUnavailable
from app.telemetry.events import MeasurementInserted
from app.telemetry.writing.announcer import Outbox, Publisher
from app.telemetry.writing.fsync_thread import Flusher
from app.telemetry.writing.rollups import FLUSH_INTERVAL
from app.telemetry.writing.transaction import MeasurementStore, WriteOutcome, WriteRequest
from app.telemetry.writing.wal import SyncFailed

logger = logging.getLogger(__name__)


class Overloaded(StorageUnavailable):
    """More requests are waiting for the writer than the queue limit allows."""


@dataclass(slots=True)
class WriterStats:
    """Counters for monitoring; read them, do not write them."""

    commits: int = 0
    requests: int = 0
    rows: int = 0
    failures: int = 0
    events_dropped: int = 0


@dataclass(slots=True)
class _Pending:
    request: WriteRequest
    future: asyncio.Future[WriteOutcome]


class GroupCommitWriter:
    """Owns the request queue, the writer task and its thread, and the publisher task."""

    def __init__(
        self,
        store: MeasurementStore,
        publish: Publisher,
        *,
        queue_limit: int,
        batch_rows: int,
        queue_rows: int = 500_000,
    ) -> None:
        self._store = store
        self._outbox = Outbox(publish)
        self._batch_rows = batch_rows
        self._queue_limit = queue_limit
        self._queue_rows_limit = queue_rows
        self._queued_rows = 0
        self._queue: deque[_Pending] = deque()
        self._wakeup: asyncio.Event | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._flusher: Flusher[tuple[list[_Pending], list[WriteOutcome]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False
        self._unavailable: str | None = None  # the reason, while the database refuses writes
        self.sync_failure: str | None = None  # set for good once an fsync has failed
        self.stats = WriterStats()

    async def rebuild_rollups(self) -> None:
        """Before starting: fold in readings a previous run left out of the rollups."""
        try:
            with ThreadPoolExecutor(max_workers=1) as executor:
                rebuilt = await asyncio.get_running_loop().run_in_executor(
                    executor, self._store.rebuild_rollups
                )
        except StorageUnavailable as error:
            # Start anyway (/readyz says why); the pending minutes stay marked and are
            # rebuilt at the next start.
            logger.warning("cannot rebuild pending rollups now: %s", error.reason)
            return
        if rebuilt:
            logger.warning("rebuilt the rollups of %d minutes a previous run left pending", rebuilt)

    def start(self) -> None:
        """Start the writer and the publisher; call from the event loop that submits."""
        loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="telemetry-writer")
        if self._store.wal is not None:
            self._flusher = Flusher(self._store.wal, loop, self._deliver_synced)
        self._outbox.start()
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
        if self._flusher is not None:
            await asyncio.to_thread(self._flusher.stop)
            self._flusher = None
            await asyncio.sleep(0)  # run the deliveries the flusher scheduled
        await self._outbox.stop()
        assert self._executor is not None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._store.close)
        self._executor.shutdown(wait=True)

    def queue_depth(self) -> int:
        """Requests waiting for a transaction."""
        return len(self._queue)

    async def submit(self, request: WriteRequest) -> WriteOutcome:
        """Queue a request and wait until its transaction has committed."""
        if not self._accepting or self._wakeup is None:
            raise Overloaded("the server is shutting down", retry_after=5)
        if self.sync_failure is not None:
            raise self._refusal()
        rows = request.row_count
        if (
            len(self._queue) >= self._queue_limit
            or self._queued_rows + rows > self._queue_rows_limit
        ):
            raise Overloaded("too many writes are waiting", retry_after=1)
        future: asyncio.Future[WriteOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(request, future))
        self._queued_rows += rows
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                if not self._accepting:
                    await self._flush_rollups()
                    return
                self._wakeup.clear()
                if self._store.rollups_due:
                    await self._flush_rollups()
                # Idle: still wake up to fold the last values into the rollups.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=FLUSH_INTERVAL)
                continue
            group = self._take_group()
            if self.sync_failure is not None:
                self._deliver(group, [WriteOutcome(error=self._refusal()) for _ in group])
                continue
            outcomes, committed = await self._write(group)
            if committed and self._flusher is not None:
                self._flusher.submit((group, outcomes))
            else:
                self._deliver(group, outcomes)

    async def _flush_rollups(self) -> None:
        if not self._store.rollups_due and self._accepting:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._store.flush_rollups
            )
        except StorageUnavailable as error:
            # The values are committed and marked pending: a later flush, or the
            # rebuild at start-up, folds them in.
            self._note_unavailable(error)

    def _take_group(self) -> list[_Pending]:
        group = [self._queue.popleft()]
        rows = group[0].request.row_count
        while self._queue and rows < self._batch_rows:
            pending = self._queue.popleft()
            group.append(pending)
            rows += pending.request.row_count
        self._queued_rows -= rows
        return group

    async def _write(self, group: list[_Pending]) -> tuple[list[WriteOutcome], bool]:
        """One transaction for the group; after an unexpected failure, one per request.

        Returns the outcomes and whether anything was committed.
        """
        requests = [p.request for p in group]
        try:
            outcomes = await self._transaction(requests)
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
        if self._unavailable is not None:
            logger.warning("storing readings again after: %s", self._unavailable)
            self._unavailable = None
        self.stats.commits += 1
        self.stats.requests += len(requests)
        self.stats.rows += sum(o.stored for o in outcomes)
        return outcomes, True

    def _note_unavailable(self, error: StorageUnavailable) -> None:
        self.stats.failures += 1
        if self._unavailable is None:
            logger.warning(
                "cannot store readings: %s; ingest answers 503 until the database recovers",
                error.reason,
            )
        self._unavailable = error.reason

    async def _transaction(self, requests: list[WriteRequest]) -> list[WriteOutcome]:
        loop = asyncio.get_running_loop()
        store = self._store
        if store.statements_block:
            return await loop.run_in_executor(self._executor, store.write, requests)
        if not store.begin(wait=False):
            await loop.run_in_executor(self._executor, store.begin)
        try:
            outcomes = store.stage(requests)
        except BaseException:
            await loop.run_in_executor(self._executor, store.rollback)
            raise
        if store.wal is not None:
            store.commit()  # no fsync here: the flusher syncs before anyone is answered
        else:
            await loop.run_in_executor(self._executor, store.commit)
        return outcomes

    def _deliver_synced(
        self, batch: tuple[list[_Pending], list[WriteOutcome]], error: StorageUnavailable | None
    ) -> None:
        """From the flusher: the group is durable (or the sync failed: answer 503)."""
        group, outcomes = batch
        if isinstance(error, SyncFailed):
            self._poison(error)
            outcomes = [WriteOutcome(error=self._refusal()) for _ in group]
        elif error is not None:
            # Committed, not yet synced, not lost: a resend is answered only after a
            # later fsync succeeds, which covers this group too.
            self._note_unavailable(error)
            outcomes = [WriteOutcome(error=error) for _ in group]
        self._deliver(group, outcomes)

    def _poison(self, error: StorageUnavailable) -> None:
        # After a failed fsync the kernel may have dropped the pages it could not write,
        # and a later fsync can succeed without them: what was committed may be lost.
        # Answering and accepting more would let a resend pass as a duplicate of data
        # that is not on disk, so, as databases do, stop writing until a restart lets
        # SQLite recover from what the disk really holds.
        if self.sync_failure is None:
            self.sync_failure = error.reason
            logger.error(
                "%s: no more writes are accepted; check the disk, then restart the server",
                error.reason,
            )

    def _refusal(self) -> StorageUnavailable:
        return StorageUnavailable(
            f"{self.sync_failure}; the server takes no writes until it is restarted",
            retry_after=60,
        )

    def _deliver(self, group: list[_Pending], outcomes: list[WriteOutcome]) -> None:
        """Answer each request, then queue the group's events for the publisher."""
        events: list[MeasurementInserted] = []
        for pending, outcome in zip(group, outcomes, strict=True):
            events.extend(outcome.events)
            if not pending.future.done():  # the client may have gone away
                pending.future.set_result(outcome)
        self._outbox.add(events)
        self.stats.events_dropped = self._outbox.dropped
