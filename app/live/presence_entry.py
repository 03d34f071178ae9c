"""One line of a "who is watching" list: a user, their open tabs, since when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PresenceEntry:
    """A signed-in user watching: their display name, how many tabs, since when."""

    user_id: int
    name: str
    tabs: int
    since: datetime
