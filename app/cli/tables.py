"""Tables and times as the commands print them: aligned columns, UTC to the second."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def format_time(moment: datetime | None) -> str:
    """A time as listed (`2026-12-07 10:00:03Z`), or "never"."""
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "never"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print `rows` under `header` in aligned columns; the last column is not padded."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*padded, line[-1]]))
