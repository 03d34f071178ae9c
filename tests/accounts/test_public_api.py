"""The accounts context's public face is a list someone chose: app.accounts.__all__."""

from __future__ import annotations

import inspect

import app.accounts

PUBLIC = {
    # the door
    "Accounts",
    # users and roles
    "DISPLAY_NAME_MAX",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "ROLES",
    "USER_NAME_MAX",
    "USER_NAME_RULE",
    "Role",
    "UserConflict",
    "UserError",
    "UserInfo",
    "UserNotFound",
    "check_role",
    "check_user_name",
    # sessions and tokens
    "PERSONAL_TOKEN_PREFIX",
    "SessionInfo",
    "SessionLifetime",
    "SessionsEnded",
    "SetupClosed",
    "SignedIn",
    "TokenHolder",
    "TokenInfo",
    "looks_like_personal_token",
    # the audit log
    "CLI",
    "DEVICE_ADDED",
    "DEVICE_CHANGED",
    "DEVICE_REMOVED",
    "DEVICE_REVOKED",
    "NOTIFICATION_SENT",
    "SIGN_IN_FAILED",
    "Actor",
    "AuditEntry",
    # notifications
    "LEVELS",
    "LINK_MAX",
    "MESSAGE_MAX",
    "TITLE_MAX",
    "InboxItem",
    "InboxPage",
    "NotificationError",
    "NotificationInfo",
    "NotificationSent",
    "NotificationsRead",
    "UnknownUsers",
    # chart notes
    "MENTION",
    "NOTES_PER_QUERY",
    "NOTE_MAX",
    "NoteChanged",
    "NoteError",
    "NoteInfo",
    "NoteNotFound",
    "NotePermission",
}


def test_the_public_names_are_exactly_the_chosen_list() -> None:
    assert set(app.accounts.__all__) == PUBLIC
    assert len(app.accounts.__all__) == len(PUBLIC), "a name is listed twice"


def test_every_public_name_resolves_and_its_classes_and_functions_are_documented() -> None:
    for name in app.accounts.__all__:
        member = getattr(app.accounts, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__doc__, f"{name} has no docstring"


def test_the_errors_say_which_field_was_wrong() -> None:
    for error in (app.accounts.NotificationError, app.accounts.NoteError):
        assert issubclass(error, ValueError)
        assert error("title", "why").field == "title"
    assert app.accounts.UnknownUsers(("ghost",)).field == "users"
    assert app.accounts.UnknownUsers(("ghost",)).names == ("ghost",)
    assert issubclass(app.accounts.NoteNotFound, app.accounts.NoteError)
    assert issubclass(app.accounts.NotePermission, app.accounts.NoteError)
