"""The JSON of the management API: what it accepts (no unknown fields) and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.accounts import DISPLAY_NAME_MAX, PASSWORD_MAX, USER_NAME_MAX, USER_NAME_RULE
from app.telemetry import DEVICE_NAME_MAX

RoleName = Literal["admin", "viewer"]


class DeviceNameIn(BaseModel):
    """A device's name: to register it, or its new name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        max_length=4 * DEVICE_NAME_MAX,  # the rules themselves are checked, and said, on 422
        description=f"1 to {DEVICE_NAME_MAX} characters, no '/' and no control characters; "
        "unique without regard to case.",
        examples=["greenhouse"],
    )


class DeviceTokenOut(BaseModel):
    """A device and its token, shown this once: the server keeps only its hash."""

    name: str
    token: str = Field(description="Send as `Authorization: Bearer <token>` to post readings.")


class DeviceCreatedOut(DeviceTokenOut):
    """A new device and its token, shown this once."""

    created_at: datetime


class DeviceDeletedOut(BaseModel):
    """A deleted device and how much of its data went with it."""

    name: str
    readings_deleted: int = Field(description="Readings: distinct measurement times.")
    values_deleted: int = Field(description="Stored values: one per quantity of a reading.")


class UserIn(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=4 * USER_NAME_MAX, description=USER_NAME_RULE + ".")
    password: str = Field(max_length=PASSWORD_MAX)
    role: RoleName = "viewer"
    display_name: str = Field(
        "", max_length=4 * DISPLAY_NAME_MAX, description="Shown in the header; the name if empty."
    )


class UserPatch(BaseModel):
    """The changes to make to a user; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: RoleName | None = None
    disabled: bool | None = Field(None, description="A disabled user's sessions end at once.")
    display_name: str | None = Field(None, max_length=4 * DISPLAY_NAME_MAX)
    password: str | None = Field(
        None, max_length=PASSWORD_MAX, description="A new password; the user's sessions end."
    )


class UserOut(BaseModel):
    """A user (never the password)."""

    name: str
    display_name: str
    role: RoleName
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class SessionOut(BaseModel):
    """A signed-in browser of a user."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    persistent: bool = Field(description="Kept across browser restarts ('keep me signed in').")
    client_address: str
    user_agent: str


class SessionsEndedOut(BaseModel):
    """How many sessions ended."""

    ended: int
