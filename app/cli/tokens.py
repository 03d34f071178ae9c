"""`telemetry user token ...`: a user's personal API tokens, for their scripts."""

from __future__ import annotations

import argparse
import sys

from app.accounts import CLI
from app.cli.accounts import open_accounts
from app.cli.commands import Command
from app.cli.tables import format_time, print_table
from app.config import Settings


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> int:
    """Create a personal token and print it once, alone on the last line of stdout."""
    with open_accounts(settings) as accounts:
        user = accounts.users.get(args.name)
        token, info = accounts.tokens.create(user.name, actor=CLI)
    # The explanation goes to stderr, so that `| tail -1` or `$(...)` takes just the token.
    print(
        f"New personal token {info.prefix} of {user.name!r}: scripts send it as "
        f"`Authorization: Bearer TOKEN` and act as {user.name} ({user.role}). Only its "
        f"digest is stored, so it is shown only this once; store it now. "
        f"`telemetry user token-revoke {user.name} {info.prefix}` revokes it.",
        file=sys.stderr,
        flush=True,
    )
    print(token)
    return 0


def cmd_token_list(settings: Settings, args: argparse.Namespace) -> int:
    """Print a user's personal tokens by their first characters, newest first."""
    with open_accounts(settings) as accounts:
        user = accounts.users.get(args.name)
        tokens = accounts.tokens.of_user(user.name)
    if not tokens:
        print(
            f"{user.name!r} has no personal token. "
            f"Create one with: telemetry user token {user.name}"
        )
        return 0
    rows = [(t.prefix, format_time(t.created_at), format_time(t.last_used_at)) for t in tokens]
    print_table(("TOKEN", "CREATED", "LAST USED"), rows)
    return 0


def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Delete the personal token that starts with the given characters."""
    with open_accounts(settings) as accounts:
        user = accounts.users.get(args.name)
        info = accounts.tokens.revoke(user.name, args.prefix, actor=CLI)
    print(f"Revoked the personal token {info.prefix} of {user.name!r}.")
    return 0


def add_user_name(parser: argparse.ArgumentParser) -> None:
    """The NAME argument of the user actions."""
    parser.add_argument("name", metavar="NAME", help="the user name")


def _add_prefix(parser: argparse.ArgumentParser) -> None:
    add_user_name(parser)
    parser.add_argument(
        "prefix",
        metavar="TOKEN_PREFIX",
        help="the token's first characters, as `telemetry user tokens NAME` lists them",
    )


TOKEN_ACTIONS = (
    Command("token", "create a personal API token for a user", cmd_token_create, add_user_name),
    Command("tokens", "list a user's personal API tokens", cmd_token_list, add_user_name),
    Command("token-revoke", "revoke a user's personal API token", cmd_token_revoke, _add_prefix),
)
