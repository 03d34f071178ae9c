"""Reading a CSV file into checked readings: its layout, each row, line by line."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.telemetry import QUANTITY_NAME_PATTERN, Reading, ReadingRules

RAW_VALUE_COLUMN = "value"
# The file name the raw.csv export suggests: NAME-QUANTITY-raw.csv (quantities hold no '-').
RAW_FILE_NAME = re.compile(r"-([a-z][a-z0-9_]{0,63})-raw(?: \(\d+\))?\.csv$")


class CsvLayoutError(Exception):
    """The file cannot be imported at all (no header, an unknown layout); nothing was stored."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one row was not stored: `reason` in a few words (for counting), `message` fully."""

    reason: str
    message: str


def quantity_columns(header: Sequence[str], path: Path, quantity: str | None) -> list[str]:
    """The quantity of each column after `time`, from the header (and for raw.csv, more)."""
    names = [cell.strip() for cell in header]
    if len(names) < 2 or names[0] != "time":
        raise CsvLayoutError(
            f"{path}: the first line must be a header starting with `time`: `time,value` "
            f"(a raw.csv export) or `time,QUANTITY,...`; got {','.join(names)!r}"
        )
    columns = names[1:]
    if columns == [RAW_VALUE_COLUMN]:
        found = RAW_FILE_NAME.search(path.name)
        quantity = quantity or (found.group(1) if found else None)
        if quantity is None:
            raise CsvLayoutError(
                f"{path}: a `time,value` file holds one quantity; say which with --quantity "
                "(an export named NAME-QUANTITY-raw.csv says it itself)"
            )
        columns = [quantity]
    elif quantity is not None:
        raise CsvLayoutError(
            f"{path}: --quantity is for `time,value` files; this header names its quantities"
        )
    for name in columns:
        if not QUANTITY_NAME_PATTERN.fullmatch(name):
            raise CsvLayoutError(
                f"{path}: column {name!r} is not a quantity name: names match "
                f"{QUANTITY_NAME_PATTERN.pattern}"
            )
    if len(set(columns)) != len(columns):
        raise CsvLayoutError(f"{path}: a quantity appears twice in the header")
    return columns


def _time(cell: str) -> datetime | Refusal:
    try:
        return datetime.fromisoformat(cell)
    except ValueError:
        return Refusal(
            "time not RFC 3339",
            f"time {cell!r} is not an RFC 3339 time, for example 2026-11-21T10:00:00Z",
        )


def parse_row(row: list[str], columns: list[str], rules: ReadingRules) -> Reading | Refusal:
    """The reading of one CSV row, checked against the ingest rules, or why it is refused."""
    if len(row) != len(columns) + 1:
        return Refusal(
            "wrong number of cells",
            f"expected {len(columns) + 1} cells, as in the header, got {len(row)}",
        )
    measured_at = _time(row[0])
    if isinstance(measured_at, Refusal):
        return measured_at
    values: dict[str, float] = {}
    for name, cell in zip(columns, row[1:], strict=True):
        if not cell:
            continue
        try:
            values[name] = float(cell)
        except ValueError:
            return Refusal("not a number", f"{name} {cell!r} is not a number")
    if not values:
        return Refusal("no values", "the row has a time but no value")
    measured_at, problems = rules.check(measured_at, values)
    if problems:
        return Refusal(problems[0].reason, "; ".join(p.message for p in problems))
    return Reading(measured_at=measured_at, values=values)


def count_rows(path: Path) -> int:
    """Lines after the header (rows, unless cells span lines): the progress bar's total."""
    with path.open("rb") as file:
        return max(0, sum(1 for line in file if line.strip()) - 1)


def read_rows(
    path: Path, quantity: str | None, rules: ReadingRules
) -> tuple[list[str], Iterator[tuple[int, Reading | Refusal]]]:
    """The file's quantity columns, and each row with its line number, parsed and checked."""
    file = path.open(encoding="utf-8-sig", newline="")  # the BOM spreadsheets write
    reader = csv.reader(file)
    try:
        columns = quantity_columns(next(reader, []), path, quantity)
    except BaseException:
        file.close()
        raise

    def rows() -> Iterator[tuple[int, Reading | Refusal]]:
        with file:
            for row in reader:
                if row:
                    yield reader.line_num, parse_row(row, columns, rules)

    return columns, rows()
