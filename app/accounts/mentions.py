"""Mentions in a chart note: "@maria" names the user maria.

Not a mention: "email@maria" (the "@" follows a word character or another "@"). A
trailing "." or "-" ends the sentence, not the name: "thanks @maria." mentions maria.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from app.accounts.notification_rules import LINK_MAX

MENTION = re.compile(r"(?<![\w@])@([a-z0-9][a-z0-9_.-]{0,31})", re.I)
AROUND = timedelta(hours=1)  # the chart a mention links to shows this much either side


def mentioned_names(text: str) -> list[str]:
    """The user names `text` mentions, lowercase, each once, in order of appearance."""
    names: dict[str, None] = {}
    for match in MENTION.finditer(text):
        name = match.group(1).rstrip(".-").lower()
        if name:
            names.setdefault(name)
    return list(names)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def note_link(
    device: str, note_id: int, starts_at: datetime, ends_at: datetime | None
) -> str | None:
    """The device's chart around the note, scrolled to its marker; the device page alone
    when that is too long, None when even that is (a non-Latin name quotes to 9 bytes a
    letter: 64 of them make 576)."""
    page = f"/devices/{quote(device, safe='')}"
    span = f"?from={_iso(starts_at - AROUND)}&to={_iso((ends_at or starts_at) + AROUND)}"
    link = f"{page}{span}#note-{note_id}"
    if len(link) <= LINK_MAX:
        return link
    return page if len(page) <= LINK_MAX else None
