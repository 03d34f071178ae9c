"""The dead-letter table: readings the server refused, kept with its reason, bounded.

A reading the server refused on its own (a 422 naming it) leaves the spool for this
table rather than being dropped: `telemetry-agent dead-letters` lists them and
`--requeue` puts them back unchanged. The table holds at most `max_rows`: past that its
oldest are dropped and counted, so a server refusing everything cannot fill the disk.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from device.clock import format_time
from device.spool_file import bump, counter, write


class Refused(Protocol):
    """A spooled reading, as far as the dead-letter table needs it."""

    @property
    def id(self) -> int:
        """Its id in the readings table."""
        ...

    @property
    def measured_at(self) -> str:
        """Its exact measured_at text."""
        ...

    @property
    def payload(self) -> str:
        """Its values as JSON."""
        ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A reading the server refused, and why."""

    id: int
    measured_at: str
    values: dict[str, float]
    status: int
    reason: str
    dead_at: str


class DeadLetters:
    """The dead-letter table of one spool connection."""

    def __init__(self, db: sqlite3.Connection, max_rows: int) -> None:
        self._db = db
        self.max_rows = max_rows

    def count(self) -> int:
        """How many dead letters the table holds."""
        return int(self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def move(
        self, refused: Sequence[tuple[Refused, str]], *, status: int, at: datetime
    ) -> tuple[int, int]:
        """Move readings from the spool to the table, each with its reason.

        Returns (moved, dropped): a reading no longer spooled is not moved; past the
        cap the table's oldest rows are dropped, and counted.
        """
        moved = dropped = 0
        with write(self._db) as db:
            for reading, reason in refused:
                if db.execute("DELETE FROM readings WHERE id = ?", (reading.id,)).rowcount:
                    db.execute(
                        "INSERT INTO dead_letters (measured_at, payload, status, reason, dead_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (reading.measured_at, reading.payload, status, reason, format_time(at)),
                    )
                    moved += 1
            bump(db, "dead_lettered", moved)
            bump(db, "rows", -moved)
            excess = self.count() - self.max_rows
            if excess > 0:
                db.execute(
                    "DELETE FROM dead_letters WHERE id IN "
                    "(SELECT id FROM dead_letters ORDER BY id LIMIT ?)",
                    (excess,),
                )
                bump(db, "dead_letter_dropped", excess)
                dropped = excess
        return moved, dropped

    def oldest(self, limit: int) -> list[DeadLetter]:
        """The oldest `limit` dead letters."""
        rows = self._db.execute(
            "SELECT id, measured_at, payload, status, reason, dead_at FROM dead_letters "
            "ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [DeadLetter(i, m, json.loads(p), s, r, d) for i, m, p, s, r, d in rows]

    def requeue(self, spool_max_rows: int) -> tuple[int, int]:
        """Put dead letters back in the spool, unchanged, into the room it has.

        Readings waiting to be delivered are never dropped to make room for ones the
        server refused. Returns (requeued, still dead-lettered).
        """
        with write(self._db) as db:
            room = max(0, spool_max_rows - counter(db, "rows"))
            ids = [
                (row[0],)
                for row in db.execute("SELECT id FROM dead_letters ORDER BY id LIMIT ?", (room,))
            ]
            db.executemany(
                "INSERT INTO readings (measured_at, payload) "
                "SELECT measured_at, payload FROM dead_letters WHERE id = ?",
                ids,
            )
            db.executemany("DELETE FROM dead_letters WHERE id = ?", ids)
            bump(db, "requeued", len(ids))
            bump(db, "rows", len(ids))
            left = self.count()
        return len(ids), left
