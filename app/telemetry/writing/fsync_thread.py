"""The thread that makes committed groups durable before they are answered.

    writer task (event loop)                 fsync thread
    commit group N (no fsync) ── submit ──>  fsync the WAL once for every group queued
    stage and commit group N+1                │  (N, maybe N+1 too)
                                 <── deliver ─┘  then answer them, in commit order

One fsync covers however many groups committed while the previous one ran: group
commit at the disk, as databases do with their log. See wal.py for why this is as
durable as SQLite's synchronous=FULL.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from app.db import StorageUnavailable
from app.telemetry.writing.wal import CHECKPOINT_INTERVAL, WalFile
from device.health import DependencyHealth

logger = logging.getLogger(__name__)

T = TypeVar("T")


class FsyncThread(Generic[T]):
    """Syncs the WAL for submitted batches, then hands each batch to `deliver` on the loop."""

    def __init__(
        self,
        wal: WalFile,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[T, StorageUnavailable | None], None],
    ) -> None:
        self._wal = wal
        self._loop = loop
        self._deliver = deliver
        self._pending: list[T] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        # Used from this class's thread only; others may read its state.
        self.checkpoints = DependencyHealth(
            logger,
            down="cannot checkpoint the database ({reason}); the WAL file grows until "
            "this is fixed: check the disk and the database file's permissions",
            up="checkpointing the database works again (it failed for {seconds:.0f} s)",
        )
        self._thread = threading.Thread(target=self._run, name="telemetry-fsync", daemon=True)
        self._thread.start()

    def submit(self, batch: T) -> None:
        """Queue a committed batch; `deliver(batch, error)` runs on the loop once synced."""
        with self._lock:
            self._pending.append(batch)
        self._wake.set()

    def stop(self) -> None:
        """Sync and deliver what is queued, then end the thread (blocking)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            # Wakes for work, and at least every checkpoint interval when idle.
            self._wake.wait(timeout=CHECKPOINT_INTERVAL)
            self._wake.clear()
            with self._lock:
                batches, self._pending = self._pending, []
            if batches and not self._sync_and_deliver(batches):
                return
            if self._stopping and not self._pending:
                self._wal.close()
                return
            self._checkpoint()

    def _sync_and_deliver(self, batches: list[T]) -> bool:
        error: StorageUnavailable | None = None
        try:
            self._wal.sync()
        except StorageUnavailable as exc:
            error = exc
        except Exception as exc:
            # Whatever went wrong, the waiting requests must be answered, and this
            # thread must live on for the next ones.
            logger.exception("syncing the database failed")
            error = StorageUnavailable(f"cannot sync the database: {exc}", retry_after=5)
        for batch in batches:
            try:
                self._loop.call_soon_threadsafe(self._deliver, batch, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return False
        return True

    def _checkpoint(self) -> None:
        try:
            self._wal.checkpoint_if_due()
        except (sqlite3.Error, OSError) as exc:
            self.checkpoints.failed(f"{self._wal.database}: {exc}")
        else:
            self.checkpoints.succeeded()
