"""The spool's file: its schema, and opening it (creating it the first time).

One SQLite file in WAL mode with synchronous=FULL, so a reading `add` returned for
survives a crash or a power cut; readers of `status` open it read-only.

    readings      id, measured_at (the exact text sent; NULL while held), boot_id and
                  boottime (held readings only, see clock.py), payload (values as JSON)
    dead_letters  readings the server refused, with its message
    counters      taken, sent, dropped, undatable, dead_lettered, dead_letter_dropped,
                  duplicates, requeued, and rows (the current size, kept exact here)
    notes         last_success_at, last_error, last_error_at, sensor.<kind> states
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1
DEFAULT_MAX_ROWS = 500_000
DEFAULT_MAX_DEAD_LETTERS = 10_000
# How long a write waits for the other loop's transaction before it fails (each lasts
# milliseconds; waiting longer only hides a stuck process).
BUSY_TIMEOUT_SECONDS = 10.0

_SCHEMA = """
-- AUTOINCREMENT: an id is never reused, so an id the sender read can only ever name
-- that reading, even if the cap dropped it while the batch was in flight.
CREATE TABLE readings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    measured_at TEXT,
    boot_id TEXT,
    boottime REAL,
    payload TEXT NOT NULL
);
CREATE INDEX readings_held ON readings (id) WHERE measured_at IS NULL;
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    measured_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    dead_at TEXT NOT NULL
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE notes (name TEXT PRIMARY KEY, value TEXT NOT NULL)
"""

COUNTERS = (
    "taken",
    "sent",
    "dropped",
    "undatable",
    "dead_lettered",
    "dead_letter_dropped",
    "duplicates",
    "requeued",
    "rows",
)


@contextmanager
def write(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One short write transaction; IMMEDIATE takes the write lock up front, so a reader
    never deadlocks upgrading its lock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def bump(db: sqlite3.Connection, name: str, by: int) -> None:
    """Add `by` to counter `name`, within the caller's transaction."""
    if by:
        db.execute("UPDATE counters SET value = value + ? WHERE name = ?", (by, name))


def counter(db: sqlite3.Connection, name: str) -> int:
    """The value of counter `name`."""
    row = db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


class SpoolError(Exception):
    """The spool cannot be opened or used; the message says what to do."""


def connect(path: Path, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    """A read-write connection to the spool at `path`, created if needed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        db.execute("PRAGMA synchronous=FULL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            db.execute("BEGIN IMMEDIATE")
            # Checked again under the lock: another process may have created it meanwhile.
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in _SCHEMA.split(";"):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.executemany(
                    "INSERT INTO counters (name, value) VALUES (?, 0)", [(c,) for c in COUNTERS]
                )
            db.execute("COMMIT")
            version = SCHEMA_VERSION
    except (OSError, sqlite3.Error) as exc:
        raise SpoolError(
            f"cannot open the spool {path}: {exc}; check that the directory exists and is "
            "writable by the agent's user, or set `spool` to another file"
        ) from exc
    if mode != "wal":
        raise SpoolError(f"the spool {path} cannot use WAL mode (got {mode!r}); use a local disk")
    _check_version(path, version)
    return db


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing spool (for status)."""
    if not path.exists():
        raise SpoolError(
            f"there is no spool at {path}; give the path the agent uses (--spool, or `spool` "
            "in its configuration)"
        )
    try:
        db = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_SECONDS,
        )
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise SpoolError(
            f"cannot read the spool {path}: {exc}; run as the agent's user "
            "(sudo -u telemetry-agent ...)"
        ) from exc
    if version == 0:
        raise SpoolError(f"{path} is not a telemetry-agent spool")
    _check_version(path, version)
    return db


def _check_version(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise SpoolError(
            f"the spool {path} was written by a newer telemetry-agent (format {version}); "
            "upgrade this agent or give it a new spool file"
        )
