"""The command line of `telemetry`: the table of commands and the parser built from it."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from app import csv_import
from app.cli.commands import Command
from app.cli.configuration import cmd_config
from app.cli.devices import DEVICE_ACTIONS
from app.cli.notify import NOTIFY
from app.cli.readings import cmd_import
from app.cli.schema import cmd_migrate
from app.cli.serving import add_serve_arguments, cmd_serve
from app.cli.users import USER_ACTIONS

COMMANDS = (
    Command("serve", "migrate the database, then run the server", cmd_serve, add_serve_arguments),
    Command("migrate", "bring the database schema up to date", cmd_migrate),
    Command("config", "show every setting and its value", cmd_config),
    NOTIFY,
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
    # "usage: telemetry user add [-h] [--admin] ... NAME", wrapped at the terminal's width.
    words = re.sub(r"\s*\[[^]]*\]", "", sub.format_usage()).split()
    return " ".join(words[2:])


def _add_group(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    description: str,
    actions: Sequence[Command],
) -> list[tuple[str, str]]:
    """Add `name ACTION` for each of `actions`; returns their usages and summaries."""
    names = ", ".join(action.name for action in actions)
    group = commands.add_parser(name, description=f"{description}: {names}.")
    subcommands = group.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")
    return [(add_command(subcommands, action, listed=True), action.summary) for action in actions]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `telemetry`; its help lists every command and action."""
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
    # After config, before import: the file's data needs a device first.
    listed[-1:-1] = [
        *_add_group(commands, "device", "Manage devices", DEVICE_ACTIONS),
        *_add_group(commands, "user", "Manage users and their personal API tokens", USER_ACTIONS),
    ]
    width = max(len(usage) for usage, _ in listed) + 2
    parser.epilog = "commands:\n" + "\n".join(
        f"  {usage:<{width}}{summary}" for usage, summary in listed
    )
    parser.epilog += "\n\n`telemetry COMMAND --help` tells more about each."
    return parser
