"""Events the accounts context publishes on the bus, after the change is committed.

SessionsEnded   a user's sessions were ended (sign-out everywhere, a disabled or
                removed user, one session ended by an admin, a sign-out). Every
                worker closes its own live streams of those sessions when it hears it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """Sessions of `user_id` ended: those in `session_ids`, or all of them when None."""

    topic: ClassVar[str] = "sessions_ended"

    user_id: int
    session_ids: tuple[int, ...] | None = None
