"""The rules a user's name, display name, role and password follow, and the errors
that say which one a change broke."""

from __future__ import annotations

import re
from typing import Literal

from app.accounts.models import DISPLAY_NAME_MAX
from app.accounts.passwords import PasswordRejected, check_password

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
USER_NAME_RULE = (
    "1 to 32 characters: lowercase letters, digits, '_', '.' and '-', "
    "starting with a letter or digit"
)
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
# Display names are free text, but not control characters: they would break the log
# lines and event-stream frames they appear in (every page escapes them as well).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class UserError(ValueError):
    """A user operation refused; the message says why."""


class UserNotFound(UserError):
    """No user has that name."""


class UserConflict(UserError):
    """Refused by the state of things, not by the values: a name taken, the last admin."""


def check_user_name(raw: str) -> str:
    """The name as stored, or UserError stating the rule."""
    name = raw.strip()
    if _USER_NAME.fullmatch(name):
        return name
    if _USER_NAME.fullmatch(name.lower()):
        raise UserError(f"user names are lowercase: {name.lower()!r}, not {name!r}")
    raise UserError(f"{name[:40]!r} is not a user name: {USER_NAME_RULE}")


def check_display_name(raw: str, fallback: str) -> str:
    """A display name as stored (the user name when blank), or UserError."""
    display = raw.strip() or fallback
    if len(display) > DISPLAY_NAME_MAX:
        raise UserError(f"a display name has at most {DISPLAY_NAME_MAX} characters")
    if _CONTROL.search(display):
        raise UserError("a display name cannot hold control characters or line breaks")
    return display


def is_user_name(raw: str) -> bool:
    """True for a string that follows the user-name rule."""
    return _USER_NAME.fullmatch(raw) is not None


def check_role(raw: str) -> Role:
    """The role named `raw`, or UserError listing the roles."""
    for role in ROLES:
        if raw == role:
            return role
    raise UserError(f"{raw[:20]!r} is not a role: use 'admin' or 'viewer'")


def check_new_password(password: str, name: str) -> None:
    """Refuse, with UserError, a password that user `name` may not have."""
    try:
        check_password(password, name)
    except PasswordRejected as exc:
        raise UserError(str(exc)) from None
