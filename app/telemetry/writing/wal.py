"""Durable commits without making the next transaction wait for the disk (SQLite, WAL).

With `synchronous=FULL`, SQLite fsyncs the WAL inside every COMMIT, and nothing else
can be written until the fsync returns. The writer instead commits with
`synchronous=NORMAL` (the commit frames are written, not yet synced) and a separate
thread calls `WalFile.sync()`: one fsync of the WAL covering every transaction
committed before it; only then are those requests answered, and the next transaction
is staged while the disk works. After the fsync those transactions are as durable as
under FULL, which syncs the same file at the same point; under NORMAL SQLite itself
still syncs the WAL header when it restarts the log and syncs the WAL before each
checkpoint. An fsync applies to the file, whatever descriptor it goes through.

The WAL's path is read from the writer's own connection (`PRAGMA database_list`), so a
database reached through a symlink is synced where SQLite really writes it, and a
missing WAL after a commit is an error, never "nothing to sync".

Checkpoints (copying the WAL back into the database file) would otherwise run inside a
commit on the event loop; the writer's connection turns them off and the fsync
thread runs them here: PASSIVE every few seconds, and TRUNCATE (which waits for the
writer for a moment) whenever the WAL has grown past WAL_LIMIT_BYTES, since under
steady writes a PASSIVE checkpoint never catches up and the log would grow forever.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from app.db import StorageUnavailable

CHECKPOINT_INTERVAL = 2.0  # seconds between PASSIVE checkpoints
WAL_LIMIT_BYTES = 8 * 1024 * 1024  # above this, a TRUNCATE checkpoint resets the log


class SyncFailed(StorageUnavailable):
    """fsync itself failed: the kernel may have dropped pages it could not write."""


class WalFile:
    """The WAL of one SQLite database: fsync it, checkpoint it, keep it bounded."""

    def __init__(
        self, *, busy_timeout_ms: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.database: Path | None = None
        self._busy_timeout = busy_timeout_ms / 1000
        self._monotonic = monotonic
        self._last_checkpoint = monotonic()
        self._checkpointer: sqlite3.Connection | None = None

    @property
    def path(self) -> Path | None:
        """The WAL file, once the writer has connected."""
        return (
            None if self.database is None else self.database.with_name(self.database.name + "-wal")
        )

    def attach(self, driver: sqlite3.Connection) -> None:
        """Learn the real database file from the writer's connection, and check WAL mode."""
        mode = driver.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageUnavailable(
                f"the database is in {mode} journal mode, not WAL (is it on a network "
                "file system?); put it on a local disk",
                retry_after=60,
            )
        for _, name, filename in driver.execute("PRAGMA database_list").fetchall():
            if name == "main" and filename:
                self.database = Path(filename)
                return
        raise StorageUnavailable("an in-memory database cannot be made durable", retry_after=60)

    def size(self) -> int:
        """Bytes in the WAL file now (0 if there is none yet)."""
        path = self.path
        try:
            return path.stat().st_size if path is not None else 0
        except OSError:
            return 0

    def sync(self) -> None:
        """fsync the WAL; every transaction committed before this call is then durable."""
        path = self.path
        if path is None:
            raise StorageUnavailable("the WAL is unknown before the writer connects", retry_after=5)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as error:
            # Nothing was synced, but nothing was lost either: the pages are still in
            # the page cache, and the next successful fsync writes them.
            if error.errno == errno.ENOENT:
                reason = f"the WAL file {path} vanished after a commit"
            else:
                reason = f"cannot open {path}: {error.strerror or error}"
            raise StorageUnavailable(
                f"cannot sync the database: {reason}", retry_after=5
            ) from error
        try:
            os.fsync(fd)
        except OSError as error:
            cause = "the disk is full" if error.errno == errno.ENOSPC else str(error)
            raise SyncFailed(f"fsync of {path} failed: {cause}", retry_after=60) from error
        finally:
            os.close(fd)

    def checkpoint_if_due(self) -> None:
        """Copy the WAL into the database file when due, resetting it when it grew large."""
        now = self._monotonic()
        oversized = self.size() > WAL_LIMIT_BYTES
        if self.database is None or (
            not oversized and now - self._last_checkpoint < CHECKPOINT_INTERVAL
        ):
            return
        self._last_checkpoint = now
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(
                self.database, timeout=self._busy_timeout, check_same_thread=False
            )
        # PASSIVE copies what it can without waiting. TRUNCATE waits (up to the busy
        # timeout) for the writer and the readers so it can reset the log to zero bytes.
        mode = "TRUNCATE" if oversized else "PASSIVE"
        self._checkpointer.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def close(self) -> None:
        """Release the checkpoint connection."""
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
