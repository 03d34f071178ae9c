"""A command of `telemetry`: its name, its line in `telemetry --help`, what runs it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings

Handler = Callable[[Settings, argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


class CommandError(Exception):
    """A command refused what it was asked; the message says what was wrong and what to do."""


def add_no_arguments(_: argparse.ArgumentParser) -> None:
    """Add nothing: the command takes no arguments."""


@dataclass(frozen=True, slots=True)
class Command:
    """One command: its name, its one line in `telemetry --help`, what runs it."""

    name: str
    summary: str
    handler: Handler
    arguments: Arguments = add_no_arguments
    details: str | None = None
