"""The command line of `telemetry`: the table of commands and the parser built from it."""

from __future__ import annotations

import argparse
import re
from typing import Any

from app import csv_import
from app.cli.commands import Command
from app.cli.configuration import cmd_config
from app.cli.devices import DEVICE_ACTIONS
from app.cli.readings import cmd_import
from app.cli.schema import cmd_migrate
from app.cli.serving import add_serve_arguments, cmd_serve

COMMANDS = (
    Command("serve", "migrate the database, then run the server", cmd_serve, add_serve_arguments),
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


def add_command(
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
    listed = [
        (add_command(commands, command, listed=False), command.summary) for command in COMMANDS
    ]
    names = ", ".join(action.name for action in DEVICE_ACTIONS)
    device = commands.add_parser("device", description=f"Manage devices: {names}.")
    actions = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    listed[-1:-1] = [  # after config, before import: the file's data needs a device first
        (add_command(actions, action, listed=True), action.summary) for action in DEVICE_ACTIONS
    ]
    width = max(len(usage) for usage, _ in listed) + 2
    parser.epilog = "commands:\n" + "\n".join(
        f"  {usage:<{width}}{summary}" for usage, summary in listed
    )
    parser.epilog += "\n\n`telemetry COMMAND --help` tells more about each."
    return parser
