"""The `telemetry` command: serve, migrate, manage devices, show the configuration."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.engine import make_url

from app import schema_migrations
from app.config import ENV_PREFIX, Settings, SettingsError
from app.db import StorageUnavailable, create_db_engine, create_session_factory
from app.telemetry import DeviceError, Devices, utc_now

EX_CONFIG = 78  # sysexits.h: configuration error

logger = logging.getLogger("app.cli")


def _display_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _migrate(settings: Settings) -> None:
    logger.info("migrating %s", _display_url(settings.database_url))
    schema_migrations.upgrade(settings.database_url)


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
    _migrate(settings)
    head = schema_migrations.head_revision()
    print(f"database {_display_url(settings.database_url)} is at revision {head}")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `telemetry`."""
    parser = argparse.ArgumentParser(
        prog="telemetry",
        description="Self-hosted IoT telemetry server. Settings come from TELEMETRY_* "
        "variables; `telemetry config` lists them.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate the database, then run the server")
    serve.add_argument("--host", help="address to listen on (default: TELEMETRY_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: TELEMETRY_PORT, 8000)")
    serve.add_argument("--reload", action="store_true", help="restart when the code changes")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=cmd_migrate)

    config = commands.add_parser("config", help="show every setting and its value")
    config.set_defaults(handler=cmd_config)

    device = commands.add_parser("device", help="add, list, revoke devices")
    device_commands = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    handlers: Sequence[tuple[str, str, Callable[[Settings, argparse.Namespace], int], bool]] = (
        ("add", "register a device and print its token", cmd_device_add, True),
        ("list", "list devices with their latest values", cmd_device_list, False),
        ("revoke", "stop a device's token from working", cmd_device_revoke, True),
        ("rotate", "issue a new token for a device", cmd_device_rotate, True),
    )
    for name, help_text, handler, takes_name in handlers:
        sub = device_commands.add_parser(name, help=help_text)
        if takes_name:
            sub.add_argument("name", help="the device name")
        sub.set_defaults(handler=handler)
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
    except StorageUnavailable as exc:
        print(f"telemetry: {exc.reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
