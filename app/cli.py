"""The `telemetry` command: serve, migrate, manage devices, import readings, show settings."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url

from app import csv_import, schema_migrations
from app.config import ENV_PREFIX, Settings, SettingsError
from app.db import StorageUnavailable, create_db_engine, create_session_factory
from app.telemetry import DeviceError, Devices, utc_now

EX_CONFIG = 78  # sysexits.h: configuration error

logger = logging.getLogger("app.cli")


def _display_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _migrate(settings: Settings) -> schema_migrations.Migrated:
    """Bring the schema up to date; say so on stderr only when a migration ran."""
    migrated = schema_migrations.upgrade(settings.database_url)
    if migrated.ran:
        logger.info(
            "migrated the database %s from revision %s to %s",
            _display_url(settings.database_url),
            migrated.before or "(empty)",
            migrated.after,
        )
    return migrated


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Migrate, then serve until SIGTERM or SIGINT."""
    from app import serving  # uvicorn and the whole app: only for this command

    _migrate(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    logger.info(
        "serving on http://%s:%d (database %s)", host, port, _display_url(settings.database_url)
    )
    run = serving.serve_reloading if args.reload else serving.serve
    run(settings, host=host, port=port, access_log=args.access_log)
    return 0


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    """Bring the database schema to the newest revision."""
    migrated = _migrate(settings)
    where = _display_url(settings.database_url)
    if migrated.ran:
        print(
            f"database {where} is at revision {migrated.after} "
            f"(migrated from {migrated.before or 'an empty database'})"
        )
    else:
        print(f"database {where} is at revision {migrated.after}: already up to date")
    return 0


def _devices(settings: Settings) -> Devices:
    _migrate(settings)
    return Devices(
        create_session_factory(create_db_engine(settings)), utc_now, token_cache_seconds=0
    )


def cmd_device_add(settings: Settings, args: argparse.Namespace) -> int:
    """Register a device and print its token once, alone on the last line."""
    device, token = _devices(settings).add(args.name)
    print(f"Added device {device.name!r}. Its token is shown only this once; store it now:")
    print(token)
    return 0


def cmd_device_rotate(settings: Settings, args: argparse.Namespace) -> int:
    """Give a device a new token; the old one stops working."""
    token = _devices(settings).rotate_token(args.name)
    print(
        f"New token for {args.name!r}; running servers refuse the old one within "
        f"{settings.token_cache_seconds:g} s (TELEMETRY_TOKEN_CACHE_SECONDS). Store it now:"
    )
    print(token)
    return 0


def cmd_device_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Stop a device's token from working; its data stays."""
    device = _devices(settings).revoke(args.name)
    print(
        f"Revoked device {device.name!r}; running servers refuse its token within "
        f"{settings.token_cache_seconds:g} s. Its readings are kept; "
        f"`telemetry device rotate {device.name!r}` issues a new token."
    )
    return 0


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "never"


def cmd_device_list(settings: Settings, _: argparse.Namespace) -> int:
    """Print every device with its last-seen time and latest values."""
    devices = _devices(settings)
    rows = []
    after: str | None = None
    while True:
        page = devices.list(limit=500, after=after)
        for d in page:
            latest = ", ".join(
                f"{q}={v.value:g}{' ' + v.unit if v.unit else ''}" for q, v in d.latest.items()
            )
            status = "revoked" if d.revoked else "active"
            rows.append((d.name, status, _when(d.last_seen_at), latest or "-"))
        if len(page) < 500:
            break
        after = page[-1].name
    if not rows:
        print("No devices yet. Add one with: telemetry device add NAME")
        return 0
    header = ("NAME", "STATUS", "LAST SEEN", "LATEST")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Store a CSV file's readings; exit 1 if any row was refused or storing stopped."""
    _migrate(settings)
    try:
        report = csv_import.import_file(settings, args.device, args.file, args.quantity, sys.stderr)
    except OSError as exc:
        print(
            f"telemetry: cannot read {exc.filename or args.file}: {exc.strerror}", file=sys.stderr
        )
        return 1
    except csv_import.CsvLayoutError as exc:
        print(f"telemetry: {exc}", file=sys.stderr)
        return 1
    for line in csv_import.summary(report, raw_retention_days=settings.raw_retention_days):
        print(line)
    return 1 if report.refused_rows or report.stopped else 0


def cmd_config(settings: Settings, _: argparse.Namespace) -> int:
    """Print every setting, its value and what it does."""
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if name == "database_url":
            value = _display_url(value)
        elif isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        print(f"{ENV_PREFIX}{name.upper()}={value}\n    {info.description}")
    return 0


Handler = Callable[[Settings, argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


def _no_arguments(_: argparse.ArgumentParser) -> None:
    pass


def _device_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the device name")


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default: TELEMETRY_HOST, 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help="port to listen on (default: TELEMETRY_PORT, 8000)"
    )
    parser.add_argument("--reload", action="store_true", help="restart when the code changes")
    parser.add_argument("--access-log", action="store_true", help="log every request")


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its name, its one line in `telemetry --help`, what runs it."""

    name: str
    summary: str
    handler: Handler
    arguments: Arguments = _no_arguments
    details: str | None = None


DEVICE_ACTIONS = (
    Command("add", "register a device and print its token", cmd_device_add, _device_name),
    Command("list", "list devices with their latest values", cmd_device_list),
    Command("revoke", "stop a device's token from working", cmd_device_revoke, _device_name),
    Command("rotate", "issue a new token for a device", cmd_device_rotate, _device_name),
)
COMMANDS = (
    Command("serve", "migrate the database, then run the server", cmd_serve, _serve_arguments),
    Command("migrate", "bring the database schema up to date", cmd_migrate),
    Command("config", "show every setting and its value", cmd_config),
    Command(
        "import",
        "store a CSV file's readings (the raw.csv export's format) as ingest would",
        cmd_import,
        csv_import.add_arguments,
        details=csv_import.HELP,
    ),
)


def _add(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], command: Command, *, listed: bool
) -> str:
    """Add `command` to `commands`; returns its usage without options, e.g. `device add NAME`.

    `listed`: in the parent's argparse list too (the top level lists its own, in the epilog).
    """
    # Without `help`, argparse leaves the command out of the parent's list.
    options: dict[str, Any] = {"help": command.summary} if listed else {}
    sub = commands.add_parser(
        command.name,
        description=command.details or command.summary,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **options,
    )
    command.arguments(sub)
    sub.set_defaults(handler=command.handler)
    usage = re.sub(r"\s*\[[^]]*\]", "", sub.format_usage()).split(maxsplit=2)[2]
    return usage.strip()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `telemetry`; its help lists every command and device action."""
    parser = argparse.ArgumentParser(
        prog="telemetry",
        description="Self-hosted IoT telemetry server. Settings come from TELEMETRY_* "
        "variables; `telemetry config` lists them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of the commands below"
    )
    listed = [(_add(commands, command, listed=False), command.summary) for command in COMMANDS]
    names = ", ".join(action.name for action in DEVICE_ACTIONS)
    device = commands.add_parser("device", description=f"Manage devices: {names}.")
    actions = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    listed[-1:-1] = [  # after config, before import: the file's data needs a device first
        (_add(actions, action, listed=True), action.summary) for action in DEVICE_ACTIONS
    ]
    width = max(len(usage) for usage, _ in listed) + 2
    parser.epilog = "commands:\n" + "\n".join(
        f"  {usage:<{width}}{summary}" for usage, summary in listed
    )
    parser.epilog += "\n\n`telemetry COMMAND --help` tells more about each."
    return parser


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
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    try:
        return handler(settings, args)
    except DeviceError as exc:
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


if __name__ == "__main__":
    sys.exit(main())
