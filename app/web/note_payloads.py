"""A chart note as the API and the live `notes` event give it (one shape for both)."""

from __future__ import annotations

from typing import Any

from app.accounts import NoteInfo
from app.web.templating import iso


def note_payload(note: NoteInfo) -> dict[str, Any]:
    """The note as JSON-ready values: times in UTC ISO 8601, `until` None for a moment."""
    return {
        "id": note.id,
        "device": note.device_name,
        "at": iso(note.starts_at),
        "until": iso(note.ends_at) if note.ends_at is not None else None,
        "text": note.text,
        "author": note.author,
        "author_name": note.author_name,
        "mentions": list(note.mentions),
        "created_at": iso(note.created_at),
        "updated_at": iso(note.updated_at),
    }
