"""Chart notes as the rest of the server sees them, read with their device, author and
mentions; and the device a note is on, found by name.

The devices table belongs to the telemetry context, whose models this package may not
import (import-linter: app.telemetry is the only door). A note must find its device in
its own transaction, and a listing shows the device's current name, so this module
reads the two columns it needs through a lightweight table clause, never writes them,
and names devices by the telemetry context's own rule (`normalize_device_name`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, column, select, table
from sqlalchemy.orm import Session

from app.accounts.models import ChartNote, NoteMention, User
from app.telemetry import DeviceError, device_name_key, normalize_device_name

DEVICES = table(
    "devices", column("id", Integer), column("name", String), column("name_key", String)
)


class NoteError(ValueError):
    """A note refused: `field` names what was wrong, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NoteNotFound(NoteError):
    """No note has that id (it may have been deleted, or its device)."""


class NotePermission(NoteError):
    """Only a note's author, or an admin, may change or delete it."""


@dataclass(frozen=True, slots=True)
class NoteInfo:
    """A chart note: `author` is the display name it was written under, `author_name`
    the author's user name (None once the user is removed)."""

    id: int
    device_id: int
    device_name: str
    author: str
    author_name: str | None
    author_id: int | None
    starts_at: datetime
    ends_at: datetime | None
    text: str
    created_at: datetime
    updated_at: datetime
    mentions: tuple[str, ...]


def find_device(session: Session, raw_name: str) -> tuple[int, str]:
    """The id and name of the device named `raw_name`, or NoteError (field "name")."""
    try:
        name = normalize_device_name(raw_name)
    except DeviceError as exc:
        raise NoteError("name", str(exc)) from None
    row = session.execute(
        select(DEVICES.c.id, DEVICES.c.name).where(DEVICES.c.name == name)
    ).first()
    if row is None:
        alike = session.scalar(
            select(DEVICES.c.name).where(DEVICES.c.name_key == device_name_key(name))
        )
        hint = f"; did you mean {alike!r}?" if alike else ""
        raise NoteError("name", f"no device is named {name!r}{hint}")
    return int(row.id), str(row.name)


def device_name_of(session: Session, device_id: int) -> str:
    """The current name of the device with this id (a note's device exists: same transaction)."""
    return str(session.scalar(select(DEVICES.c.name).where(DEVICES.c.id == device_id)))


def read_notes(
    session: Session, *where: ColumnElement[bool], limit: int | None = None
) -> list[NoteInfo]:
    """The notes matching `where`, oldest first, with their device, author and mentions."""
    query = (
        select(ChartNote, DEVICES.c.name, User.name)
        .join(DEVICES, DEVICES.c.id == ChartNote.device_id)
        .outerjoin(User, User.id == ChartNote.author_id)
        .where(*where)
        .order_by(ChartNote.starts_at, ChartNote.id)
        .limit(limit)
    )
    rows: list[tuple[ChartNote, Any, Any]] = list(session.execute(query))
    mentions = mentions_of(session, [note.id for note, _, _ in rows])
    return [
        NoteInfo(
            note.id,
            note.device_id,
            str(device),
            note.author_name,
            author,
            note.author_id,
            note.starts_at,
            note.ends_at,
            note.text,
            note.created_at,
            note.updated_at,
            tuple(mentions.get(note.id, ())),
        )
        for note, device, author in rows
    ]


def read_note(session: Session, note_id: int) -> NoteInfo:
    """One note, or NoteNotFound (field "id")."""
    found = read_notes(session, ChartNote.id == note_id)
    if not found:
        raise NoteNotFound("id", f"no note has the id {note_id}")
    return found[0]


def mentions_of(session: Session, note_ids: Sequence[int]) -> dict[int, list[str]]:
    """The user names each note mentions, in name order."""
    found: dict[int, list[str]] = {}
    for start in range(0, len(note_ids), 500):
        query = (
            select(NoteMention.note_id, User.name)
            .join(User, User.id == NoteMention.user_id)
            .where(NoteMention.note_id.in_(note_ids[start : start + 500]))
            .order_by(User.name)
        )
        for note_id, name in session.execute(query):
            found.setdefault(note_id, []).append(name)
    return found
