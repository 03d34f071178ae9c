"""`telemetry user ACTION`: add users, list them, change their password, role and access."""

from __future__ import annotations

import argparse

from app.accounts import (
    CLI,
    Accounts,
    Role,
    UserError,
    UserNotFound,
    check_role,
    check_user_name,
)
from app.cli.accounts import open_accounts
from app.cli.commands import Command
from app.cli.passwords import add_password_stdin, read_new_password
from app.cli.tables import format_time, print_table
from app.cli.tokens import TOKEN_ACTIONS, add_user_name
from app.config import Settings


def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    """Create a user (a viewer, or an admin with --admin) with a new password."""
    role: Role = "admin" if args.admin else "viewer"
    with open_accounts(settings) as accounts:
        # Refuse a bad or taken name before the password is typed, not after.
        name = check_user_name(args.name)
        _refuse_existing(accounts, name)
        password = read_new_password(args, name)
        user = accounts.users.add(
            name, password, role=role, display_name=args.display_name, actor=CLI
        )
    print(f"Added user {user.name!r} with the role {user.role}.")
    return 0


def cmd_user_list(settings: Settings, _: argparse.Namespace) -> int:
    """Print every user with their role, status and last sign-in."""
    with open_accounts(settings) as accounts:
        users = accounts.users.list()
    if not users:
        print("No users yet. Add the first admin with: telemetry user add NAME --admin")
        return 0
    rows = [
        (
            u.name,
            u.display_name,
            u.role,
            "disabled" if u.disabled else "active",
            format_time(u.created_at),
            format_time(u.last_login_at),
        )
        for u in users
    ]
    print_table(("NAME", "DISPLAY NAME", "ROLE", "STATUS", "CREATED", "LAST SIGN-IN"), rows)
    return 0


def cmd_user_passwd(settings: Settings, args: argparse.Namespace) -> int:
    """Give a user a new password; their sessions end."""
    with open_accounts(settings) as accounts:
        user = accounts.users.get(args.name)  # an unknown name is refused before the prompt
        password = read_new_password(args, user.name)
        open_sessions = len(accounts.sessions.of_user(user.id))
        accounts.users.set_password(user.name, password, actor=CLI)
    print(
        f"New password set for {user.name!r}; their sessions were ended "
        f"({_sessions(open_sessions)}): they sign in again with the new password."
    )
    return 0


def cmd_user_role(settings: Settings, args: argparse.Namespace) -> int:
    """Make a user an admin or a viewer."""
    role = check_role(args.role)
    with open_accounts(settings) as accounts:
        before = accounts.users.get(args.name)
        if before.role == role:
            print(f"{before.name!r} is already {_article(role)}; nothing changed.")
            return 0
        user, _ = accounts.users.update(before.name, actor=CLI, role=role)
    print(f"{user.name!r} is now {_article(user.role)}.")
    return 0


def cmd_user_disable(settings: Settings, args: argparse.Namespace) -> int:
    """Stop a user from signing in; their sessions end and their tokens stop working."""
    with open_accounts(settings) as accounts:
        before = accounts.users.get(args.name)
        if before.disabled:
            print(f"{before.name!r} is already disabled; nothing changed.")
            return 0
        open_sessions = len(accounts.sessions.of_user(before.id))
        user, _ = accounts.users.update(before.name, actor=CLI, disabled=True)
    print(
        f"Disabled {user.name!r}: they cannot sign in, their personal tokens stop working, "
        f"and their sessions were ended ({_sessions(open_sessions)}). "
        f"`telemetry user enable {user.name}` lets them in again."
    )
    return 0


def cmd_user_enable(settings: Settings, args: argparse.Namespace) -> int:
    """Let a disabled user sign in again."""
    with open_accounts(settings) as accounts:
        before = accounts.users.get(args.name)
        if not before.disabled:
            print(f"{before.name!r} is already active; nothing changed.")
            return 0
        user, _ = accounts.users.update(before.name, actor=CLI, disabled=False)
    print(f"Enabled {user.name!r}: they can sign in again, and their personal tokens work.")
    return 0


def cmd_user_remove(settings: Settings, args: argparse.Namespace) -> int:
    """Delete a user with their sessions and personal tokens."""
    with open_accounts(settings) as accounts:
        user = accounts.users.remove(args.name, actor=CLI)
    print(f"Removed user {user.name!r}, their sessions and their personal tokens.")
    return 0


def _refuse_existing(accounts: Accounts, name: str) -> None:
    try:
        accounts.users.get(name)
    except UserNotFound:
        return
    raise UserError(f"a user named {name!r} already exists: choose another name")


def _sessions(count: int) -> str:
    if count == 0:
        return "none was open"
    return "1 was open" if count == 1 else f"{count} were open"


def _article(role: str) -> str:
    return f"an {role}" if role == "admin" else f"a {role}"


def _add_new_user(parser: argparse.ArgumentParser) -> None:
    add_user_name(parser)
    parser.add_argument("--admin", action="store_true", help="an admin (default: a viewer)")
    parser.add_argument(
        "--display-name", default="", metavar="TEXT", help="name shown on pages (default: NAME)"
    )
    add_password_stdin(parser)


def _add_new_password(parser: argparse.ArgumentParser) -> None:
    add_user_name(parser)
    add_password_stdin(parser)


def _add_role(parser: argparse.ArgumentParser) -> None:
    add_user_name(parser)
    parser.add_argument("role", metavar="admin|viewer", help="the new role")


USER_ACTIONS = (
    Command("add", "add a user (a viewer; --admin for an admin)", cmd_user_add, _add_new_user),
    Command("list", "list users with their role and last sign-in", cmd_user_list),
    Command(
        "passwd", "set a user's password; their sessions end", cmd_user_passwd, _add_new_password
    ),
    Command("role", "make a user an admin or a viewer", cmd_user_role, _add_role),
    Command("disable", "stop a user from signing in", cmd_user_disable, add_user_name),
    Command("enable", "let a disabled user sign in again", cmd_user_enable, add_user_name),
    Command("remove", "delete a user, their sessions and tokens", cmd_user_remove, add_user_name),
    *TOKEN_ACTIONS,
)
