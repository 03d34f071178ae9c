"""What a notification may hold, and the errors that say which field broke the rule.

Titles travel in event-stream frames and log lines, so no control character or line
break; messages may break lines. Links are site-relative paths only: "//evil.com" and
"/\\evil.com" are read by browsers as another host, and a link must never leave the site.
"""

from __future__ import annotations

import re

from app.accounts.models import (
    NOTIFICATION_LINK_MAX,
    NOTIFICATION_MESSAGE_MAX,
    NOTIFICATION_TITLE_MAX,
)

LEVELS = ("info", "warning", "critical")
TITLE_MAX = NOTIFICATION_TITLE_MAX
MESSAGE_MAX = NOTIFICATION_MESSAGE_MAX
LINK_MAX = NOTIFICATION_LINK_MAX

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same, but for the line feed: "\r\n" and "\r" are made "\n" first.
CONTROL_BUT_LINE_FEED = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


class NotificationError(ValueError):
    """A notification refused: `field` names what was wrong, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownUsers(NotificationError):
    """Some of the recipients named are nobody: `names` holds every one of them."""

    def __init__(self, names: tuple[str, ...]) -> None:
        shown = ", ".join(repr(name[:40]) for name in names[:20])
        more = f" and {len(names) - 20} more" if len(names) > 20 else ""
        noun = "user is" if len(names) == 1 else "users are"
        super().__init__("users", f"no such {noun} known: {shown}{more}")
        self.names = names


def with_line_feeds(text: str) -> str:
    """`text` with every line break made one line feed."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def check_title(raw: str) -> str:
    """The title as stored, or NotificationError (field "title")."""
    title = raw.strip()
    if not title:
        raise NotificationError("title", "a notification needs a title")
    if len(title) > TITLE_MAX:
        raise NotificationError(
            "title", f"a title has at most {TITLE_MAX} characters, not {len(title)}"
        )
    if CONTROL.search(title):
        raise NotificationError("title", "a title cannot hold line breaks or control characters")
    return title


def check_message(raw: str) -> str:
    """The message as stored (line breaks kept), or NotificationError (field "message")."""
    message = with_line_feeds(raw).strip()
    if not message:
        raise NotificationError("message", "a notification needs a message")
    if len(message) > MESSAGE_MAX:
        raise NotificationError(
            "message", f"a message has at most {MESSAGE_MAX} characters, not {len(message)}"
        )
    if CONTROL_BUT_LINE_FEED.search(message):
        raise NotificationError(
            "message", "a message cannot hold control characters (line breaks are fine)"
        )
    return message


def check_level(raw: str) -> str:
    """The level, one of LEVELS, or NotificationError (field "level")."""
    if raw in LEVELS:
        return raw
    raise NotificationError("level", f"{raw[:20]!r} is not a level: use {', '.join(LEVELS)}")


def check_link(raw: str | None) -> str | None:
    """A path on this site (None for none), or NotificationError (field "link")."""
    if raw is None or raw == "":
        return None
    if not raw.startswith("/") or raw.startswith(("//", "/\\")):
        raise NotificationError(
            "link", f"a link is a path on this site starting with one '/': not {raw[:40]!r}"
        )
    if len(raw) > LINK_MAX:
        raise NotificationError("link", f"a link has at most {LINK_MAX} characters")
    if CONTROL.search(raw) or any(ch.isspace() for ch in raw):
        raise NotificationError("link", "a link cannot hold spaces or control characters")
    return raw
