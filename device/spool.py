"""The spool: every reading is written here, durably, before any attempt to send it.

The file, its tables and how it is opened are in spool_file.py; the readings the
server refused are in dead_letters.py. The sampler and the sender each open a
connection; every change is one short IMMEDIATE transaction, so neither waits long for
the other, and the counters are kept exact with it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from device.clock import date_held, format_time
from device.dead_letters import DeadLetter, DeadLetters
from device.spool_file import (
    BUSY_TIMEOUT_SECONDS,
    COUNTERS,
    DEFAULT_MAX_DEAD_LETTERS,
    DEFAULT_MAX_ROWS,
    bump,
    connect,
    connect_readonly,
    counter,
    write,
)
from device.status import SpoolStatus


@dataclass(frozen=True, slots=True)
class Spooled:
    """A reading ready to send: its id, its exact measured_at and its values as JSON."""

    id: int
    measured_at: str
    payload: str


@dataclass(frozen=True, slots=True)
class Held:
    """Where a reading taken before the clock was set sits on the boot clock."""

    boot_id: str
    boottime: float


def encode_values(values: Mapping[str, float]) -> str:
    """The payload text of a reading; every value a float, as the server requires."""
    return json.dumps(
        {name: float(value) for name, value in values.items()},
        allow_nan=False,
        separators=(",", ":"),
    )


class Spool:
    """A connection to the spool file; open one per thread."""

    def __init__(self, db: sqlite3.Connection, path: Path, max_rows: int, max_dead: int) -> None:
        self._db = db
        self.path = path
        self.max_rows = max_rows
        self._dead = DeadLetters(db, max_dead)
        self._states: dict[str, str] = {}  # the notes note_state wrote through this connection

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_dead_letters: int = DEFAULT_MAX_DEAD_LETTERS,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
    ) -> Spool:
        """Open (and create if needed) the spool at `path` for reading and writing."""
        if max_rows < 1 or max_dead_letters < 1:
            raise ValueError("the spool's caps must be at least 1")
        return cls(connect(path, busy_timeout), path, max_rows, max_dead_letters)

    @classmethod
    def open_readonly(cls, path: Path) -> Spool:
        """Open an existing spool without changing anything (for status)."""
        return cls(connect_readonly(path), path, DEFAULT_MAX_ROWS, DEFAULT_MAX_DEAD_LETTERS)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def add(
        self,
        values: Mapping[str, float],
        *,
        measured_at: datetime | None = None,
        held: Held | None = None,
    ) -> int:
        """Spool one reading, timestamped or held; returns how many of the oldest it dropped."""
        if (measured_at is None) == (held is None):
            raise ValueError("a reading is either timestamped or held, not both or neither")
        payload = encode_values(values)
        stamp = format_time(measured_at) if measured_at is not None else None
        with write(self._db) as db:
            dropped = self._make_room(db, 1)
            db.execute(
                "INSERT INTO readings (measured_at, boot_id, boottime, payload) "
                "VALUES (?, ?, ?, ?)",
                (stamp, held.boot_id if held else None, held.boottime if held else None, payload),
            )
            bump(db, "taken", 1)
            bump(db, "rows", 1)
        return dropped

    def _make_room(self, db: sqlite3.Connection, rows: int) -> int:
        """Drop the oldest readings so that `rows` more fit under the cap; returns how many."""
        excess = counter(db, "rows") - self.max_rows + rows
        if excess <= 0:
            return 0
        dropped = db.execute(
            "DELETE FROM readings WHERE id IN (SELECT id FROM readings ORDER BY id LIMIT ?)",
            (excess,),
        ).rowcount
        bump(db, "dropped", dropped)
        bump(db, "rows", -dropped)
        return int(dropped)

    def held_count(self) -> int:
        """How many readings wait for the clock to be set."""
        row = self._db.execute("SELECT count(*) FROM readings WHERE measured_at IS NULL").fetchone()
        return int(row[0])

    def date_held(self, boot_id: str, boottime_now: float, now: datetime) -> tuple[int, int]:
        """Date the held readings of this boot; drop earlier boots'. Returns (dated, undatable)."""
        with write(self._db) as db:
            rows = db.execute(
                "SELECT id, boot_id, boottime FROM readings WHERE measured_at IS NULL"
            ).fetchall()
            dated = [
                (format_time(date_held(now, boottime_now, boottime)), id_)
                for id_, boot, boottime in rows
                if boot == boot_id and boottime is not None
            ]
            db.executemany("UPDATE readings SET measured_at = ? WHERE id = ?", dated)
            lost = [(id_,) for id_, boot, boottime in rows if boot != boot_id or boottime is None]
            undatable = db.executemany("DELETE FROM readings WHERE id = ?", lost).rowcount
            bump(db, "undatable", undatable)
            bump(db, "rows", -undatable)
        return len(dated), max(undatable, 0)

    def next_batch(self, limit: int) -> list[Spooled]:
        """The oldest `limit` readings that can be sent, oldest first."""
        rows = self._db.execute(
            "SELECT id, measured_at, payload FROM readings WHERE measured_at IS NOT NULL "
            "ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [Spooled(int(i), str(m), str(p)) for i, m, p in rows]

    def acknowledge(self, ids: Sequence[int], *, duplicates: int, at: datetime) -> int:
        """Forget readings the server stored; returns how many were still spooled."""
        with write(self._db) as db:
            deleted = db.executemany("DELETE FROM readings WHERE id = ?", [(i,) for i in ids])
            count = max(deleted.rowcount, 0)
            bump(db, "sent", count)
            bump(db, "rows", -count)
            bump(db, "duplicates", duplicates)
            self._set_note(db, "last_success_at", format_time(at))
        return count

    @property
    def max_dead_letters(self) -> int:
        """Dead letters kept at most."""
        return self._dead.max_rows

    def dead_letter(
        self, refused: Sequence[tuple[Spooled, str]], *, status: int, at: datetime
    ) -> tuple[int, int]:
        """Move readings the server refused to the dead letters; (moved, dropped past the cap)."""
        return self._dead.move(refused, status=status, at=at)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest `limit` dead letters."""
        return self._dead.oldest(limit)

    def requeue_dead_letters(self) -> tuple[int, int]:
        """Put dead letters back in the spool's room; (requeued, still dead-lettered)."""
        return self._dead.requeue(self.max_rows)

    def _set_note(self, db: sqlite3.Connection, name: str, value: str) -> None:
        db.execute(
            "INSERT INTO notes (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def note(self, name: str, value: str) -> None:
        """Remember a fact for `status` (a sensor's state, for example)."""
        with write(self._db) as db:
            self._set_note(db, name, value)

    def note_state(self, name: str, state: str) -> None:
        """Note a dependency's state for `status`, unless it is what this connection last
        wrote there: its first state always replaces what an earlier run left."""
        if self._states.get(name) == state:
            return
        self.note(name, state)
        self._states[name] = state

    def note_error(self, message: str, at: datetime) -> None:
        """Remember the latest delivery error for `status`."""
        with write(self._db) as db:
            self._set_note(db, "last_error", message)
            self._set_note(db, "last_error_at", format_time(at))

    def status(self) -> SpoolStatus:
        """Counts, sizes and notes, read in one snapshot."""
        db = self._db
        db.execute("BEGIN")
        try:
            counters = {str(n): int(v) for n, v in db.execute("SELECT name, value FROM counters")}
            notes = {str(n): str(v) for n, v in db.execute("SELECT name, value FROM notes")}
            held = self.held_count()
            oldest = db.execute(
                "SELECT measured_at FROM readings WHERE measured_at IS NOT NULL ORDER BY id LIMIT 1"
            ).fetchone()
            dead = self._dead.count()
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            page_size = db.execute("PRAGMA page_size").fetchone()[0]
        finally:
            db.execute("COMMIT")
        wal = Path(f"{self.path}-wal")
        size = int(pages) * int(page_size) + (os.path.getsize(wal) if wal.exists() else 0)
        return SpoolStatus(
            path=str(self.path),
            size_bytes=size,
            pending=counters.get("rows", 0) - held,
            held=held,
            dead_letter=dead,
            oldest_unsent=str(oldest[0]) if oldest else None,
            counters={name: counters.get(name, 0) for name in COUNTERS},
            notes=notes,
        )
