"""How the user commands take a new password: asked twice on the terminal, or one line
of standard input (`--password-stdin`, for scripts), never as an argument, which other
users of the machine could read in the process list."""

from __future__ import annotations

import argparse
import getpass
import sys

from app.cli.commands import CommandError


def add_password_stdin(parser: argparse.ArgumentParser) -> None:
    """The --password-stdin option of the commands that set a password."""
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )


def read_new_password(args: argparse.Namespace, user_name: str) -> str:
    """The new password for `user_name`: from stdin with --password-stdin, else asked twice."""
    if args.password_stdin:
        return _read_line()
    if not sys.stdin.isatty():
        raise CommandError(
            "no terminal to ask for the password on: pass --password-stdin and write the "
            "password to standard input, e.g. printf '%s\\n' \"$PASSWORD\" | telemetry user ..."
        )
    try:
        first = getpass.getpass(f"New password for {user_name}: ")
        second = getpass.getpass("The same password again: ")
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)  # the prompt's line was left open
        raise CommandError("no password was given: nothing was changed") from None
    if first != second:
        raise CommandError("the two passwords differ: nothing was changed; run the command again")
    return first


def _read_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise CommandError(
            "--password-stdin found nothing on standard input: write the password to it as one line"
        )
    # Only the line's end goes: spaces at either end are part of the password.
    if line.endswith("\r\n"):
        return line[:-2]
    return line.removesuffix("\n")
