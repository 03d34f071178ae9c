"""`telemetry device ACTION`: register devices, list them, revoke and rotate their tokens."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager

from app.accounts import CLI, DEVICE_ADDED, DEVICE_CHANGED, DEVICE_REVOKED
from app.cli.accounts import open_accounts
from app.cli.commands import Command
from app.cli.schema import migrate
from app.cli.tables import format_time, print_table
from app.config import Settings
from app.db import create_db_engine, create_session_factory
from app.telemetry import AlongWith, Devices, utc_now


def open_devices(settings: Settings) -> Devices:
    """The devices context on the migrated database, remembering no token."""
    migrate(settings)
    return Devices(
        create_session_factory(create_db_engine(settings)), utc_now, token_cache_seconds=0
    )


@contextmanager
def _audited(settings: Settings, action: str) -> Iterator[AlongWith]:
    """The audit line of a change, written in its transaction, with `cli` as who made it."""
    with open_accounts(settings) as accounts:
        yield accounts.audit_along(action, CLI)


def cmd_device_add(settings: Settings, args: argparse.Namespace) -> int:
    """Register a device and print its token once, alone on the last line."""
    with _audited(settings, DEVICE_ADDED) as along:
        device, token = open_devices(settings).add(args.name, along)
    print(f"Added device {device.name!r}. Its token is shown only this once; store it now:")
    print(token)
    return 0


def cmd_device_rotate(settings: Settings, args: argparse.Namespace) -> int:
    """Give a device a new token; the old one stops working."""
    with _audited(settings, DEVICE_CHANGED) as along:
        token = open_devices(settings).rotate_token(args.name, along)
    print(
        f"New token for {args.name!r}; running servers refuse the old one within "
        f"{settings.token_cache_seconds:g} s (TELEMETRY_TOKEN_CACHE_SECONDS). Store it now:"
    )
    print(token)
    return 0


def cmd_device_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Stop a device's token from working; its data stays."""
    with _audited(settings, DEVICE_REVOKED) as along:
        device = open_devices(settings).revoke(args.name, along)
    print(
        f"Revoked device {device.name!r}; running servers refuse its token within "
        f"{settings.token_cache_seconds:g} s. Its readings are kept; "
        f"`telemetry device rotate {device.name!r}` issues a new token."
    )
    return 0


def cmd_device_list(settings: Settings, _: argparse.Namespace) -> int:
    """Print every device with its last-seen time and latest values."""
    devices = open_devices(settings)
    rows = []
    after: str | None = None
    while True:
        page = devices.list(limit=500, after=after)
        for d in page:
            latest = ", ".join(
                f"{q}={v.value:g}{' ' + v.unit if v.unit else ''}" for q, v in d.latest.items()
            )
            status = "revoked" if d.revoked else "active"
            rows.append((d.name, status, format_time(d.last_seen_at), latest or "-"))
        if len(page) < 500:
            break
        after = page[-1].name
    if not rows:
        print("No devices yet. Add one with: telemetry device add NAME")
        return 0
    print_table(("NAME", "STATUS", "LAST SEEN", "LATEST"), rows)
    return 0


def add_device_name(parser: argparse.ArgumentParser) -> None:
    """The NAME argument of the device actions."""
    parser.add_argument("name", metavar="NAME", help="the device name")


DEVICE_ACTIONS = (
    Command("add", "register a device and print its token", cmd_device_add, add_device_name),
    Command("list", "list devices with their latest values", cmd_device_list),
    Command("revoke", "stop a device's token from working", cmd_device_revoke, add_device_name),
    Command("rotate", "issue a new token for a device", cmd_device_rotate, add_device_name),
)
