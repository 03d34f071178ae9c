"""The JSON of notifications: what an admin sends (no unknown fields), what a user reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.accounts import LINK_MAX, MESSAGE_MAX, TITLE_MAX, USER_NAME_MAX, NotificationInfo

LevelName = Literal["info", "warning", "critical"]
# Names one notification may be addressed to: more is a list of everyone, better sent so.
RECIPIENTS_MAX = 1000

# The rules themselves are checked, and said, by the accounts context (422 naming the
# field); these bounds only keep an absurd body from reaching it.
UserNameIn = Annotated[str, Field(max_length=4 * USER_NAME_MAX)]


class NotificationIn(BaseModel):
    """A notification to send: to everyone, or to the users named."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(
        max_length=4 * TITLE_MAX,
        description=f"1 to {TITLE_MAX} characters, one line, no control characters.",
        examples=["Heating off tonight"],
    )
    message: str = Field(
        max_length=4 * MESSAGE_MAX,
        description=f"1 to {MESSAGE_MAX} characters of plain text; line breaks kept, "
        "addresses shown as links.",
        examples=["The greenhouse heater is serviced from 22:00."],
    )
    level: LevelName = Field("info", description="Critical toasts stay until dismissed.")
    link: str | None = Field(
        None,
        max_length=4 * LINK_MAX,
        description=f"A path inside the dashboard (starting with one '/', at most {LINK_MAX} "
        "characters), shown as 'Open'.",
        examples=["/devices/greenhouse"],
    )
    users: list[UserNameIn] | None = Field(
        None,
        max_length=RECIPIENTS_MAX,
        description="User names to send to; absent or null: everyone not disabled. "
        "Unknown names are refused, all of them named in one 422.",
        examples=[["maria", "jonas"]],
    )


class NotificationFields(BaseModel):
    """What every notification has, as sent and as read."""

    id: int
    title: str
    message: str
    level: LevelName
    link: str | None
    sender: str | None = Field(description="The sender's display name; null: the system.")
    created_at: datetime


class NotificationOut(NotificationFields):
    """A notification as sent."""

    audience: Literal["everyone"] | list[str] = Field(
        description='"everyone", or the names it was sent to.'
    )
    recipients: int = Field(description="How many users received it.")


class InboxItemOut(NotificationFields):
    """A notification in the user's inbox."""

    everyone: bool = Field(description="Sent to everyone (not to chosen users).")
    read: bool


class InboxOut(BaseModel):
    """One page of the user's inbox, newest first."""

    notifications: list[InboxItemOut]
    unread: int = Field(description="Unread notifications in the whole inbox.")
    total: int
    page: int
    pages: int = Field(description="Pages in all (at least 1).")


class UnreadOut(BaseModel):
    """The user's unread count after the change."""

    unread: int


def inbox_item_out(notification: NotificationInfo, read: bool) -> InboxItemOut:
    """The wire form of one inbox entry."""
    return InboxItemOut(
        id=notification.id,
        title=notification.title,
        message=notification.message,
        level=notification.level,  # one of LEVELS: checked when stored
        link=notification.link,
        sender=notification.sender,
        created_at=notification.created_at,
        everyone=notification.everyone,
        read=read,
    )
