"""The `telemetry` command: serve, migrate, manage devices and users, send notifications,
import readings, show settings.

Inside: parser.py (the table of commands and the parser built from it), commands.py
(what a command is); the commands in serving.py, schema.py, devices.py, users.py,
tokens.py, notify.py, readings.py, configuration.py; and what they share: accounts.py (the
accounts context opened), passwords.py (reading a new one), tables.py (printing lists).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from app import schema_migrations
from app.accounts import UserError, UserNotFound
from app.cli.commands import CommandError, Handler
from app.cli.parser import build_parser
from app.config import Settings, SettingsError
from app.db import StorageUnavailable
from app.telemetry import DeviceError

__all__ = ["EX_CONFIG", "build_parser", "main"]

EX_CONFIG = 78  # sysexits.h: configuration error


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    """Entry point of the `telemetry` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environ(os.environ if environ is None else environ)
    except SettingsError as exc:
        print(f"telemetry: bad configuration:\n{exc}", file=sys.stderr)
        return EX_CONFIG
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except UserNotFound as exc:
        print(f"telemetry: {exc}: `telemetry user list` lists the users", file=sys.stderr)
        return 1
    except (DeviceError, UserError, CommandError) as exc:
        print(f"telemetry: {exc}", file=sys.stderr)
        return 1
    except schema_migrations.MigrationRefused as exc:
        print(f"telemetry: cannot migrate the database: {exc}", file=sys.stderr)
        return 1
    except StorageUnavailable as exc:
        print(f"telemetry: {exc.reason}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader left (`telemetry device list | head`): as `cat`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing to flush
        return 141  # what a shell reports for a command ended by SIGPIPE
