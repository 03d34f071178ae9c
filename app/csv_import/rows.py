"""Reading a CSV file into checked readings: its layout, each row, line by line.

The file is decoded with surrogateescape, so a byte that is not UTF-8 never raises in
the middle of a buffered chunk (which would lose the good rows read with it): it turns
into a lone surrogate that the row holding it is checked for, and reading stops there
with the line's number (CsvReadError), after every row before it.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from app.telemetry import QUANTITY_NAME_PATTERN, Reading, ReadingRules

RAW_VALUE_COLUMN = "value"
# The file name the raw.csv export suggests: NAME-QUANTITY-raw.csv (quantities hold no '-').
RAW_FILE_NAME = re.compile(r"-([a-z][a-z0-9_]{0,63})-raw(?: \(\d+\))?\.csv$")


STDIN = Path("-")  # the FILE argument that means standard input
# A plain decimal number, ASCII digits only: what `float` takes beyond it (1_000, Arabic
# digits, full-width ones) is not what a person wrote as a reading.
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Spelled out non-finite values reach the ingest rules, which refuse them in their words.
NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
# What surrogateescape turns an undecodable byte into.
UNDECODABLE = re.compile("[\udc80-\udcff]")
UTF16_BOMS = ("\udcff\udcfe", "\udcfe\udcff")  # FF FE, FE FF, undecoded


class CsvLayoutError(Exception):
    """The file cannot be imported at all (no header, an unknown layout); nothing was stored."""


class CsvReadError(Exception):
    """The file cannot be read past `line` (not UTF-8, a cell too long); the rows before are."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


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
            f"{label(path)}: the first line must be a header starting with `time`: `time,value` "
            f"(a raw.csv export) or `time,QUANTITY,...`; got {','.join(names)!r}"
        )
    columns = names[1:]
    if columns == [RAW_VALUE_COLUMN]:
        found = RAW_FILE_NAME.search(path.name)
        quantity = quantity or (found.group(1) if found else None)
        if quantity is None:
            raise CsvLayoutError(
                f"{label(path)}: a `time,value` file holds one quantity; say which with --quantity "
                "(an export named NAME-QUANTITY-raw.csv says it itself)"
            )
        columns = [quantity]
    elif quantity is not None:
        raise CsvLayoutError(
            f"{label(path)}: --quantity is for `time,value` files; this header names its quantities"
        )
    for name in columns:
        if not QUANTITY_NAME_PATTERN.fullmatch(name):
            raise CsvLayoutError(
                f"{label(path)}: column {name!r} is not a quantity name: names match "
                f"{QUANTITY_NAME_PATTERN.pattern}"
            )
    if len(set(columns)) != len(columns):
        raise CsvLayoutError(f"{label(path)}: a quantity appears twice in the header")
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
        number = cell.strip(" \t")  # `21.5, 40` as some tools write it
        if not (NUMBER.fullmatch(number) or NOT_FINITE.fullmatch(number)):
            return Refusal(
                "not a number",
                f"{name} {cell!r} is not a number: write digits 0-9 with an optional sign, "
                "decimal point and exponent, such as 21.5, -3 or 1.2e3",
            )
        values[name] = float(number)
    if not values:
        return Refusal("no values", "the row has a time but no value")
    measured_at, problems = rules.check(measured_at, values)
    if problems:
        return Refusal(problems[0].reason, "; ".join(p.message for p in problems))
    return Reading(measured_at=measured_at, values=values)


def label(path: Path) -> str:
    """How messages name the file: its path, or stdin."""
    return "stdin" if path == STDIN else str(path)


def count_rows(path: Path) -> int | None:
    """Lines after the header (rows, unless cells span lines): the progress bar's total.

    None unless `path` is a regular file: a pipe (`<(zcat f.csv.gz)`, stdin) can be read
    only once, and counting would consume the rows before they are imported.
    """
    if path == STDIN or not stat.S_ISREG(os.stat(path).st_mode):
        return None
    with path.open("rb") as file:
        return max(0, sum(1 for line in file if line.strip()) - 1)


def _open(path: Path) -> io.TextIOWrapper:
    # Standard input is read through a file of its own that leaves it open when closed.
    binary: BinaryIO = (
        os.fdopen(sys.stdin.fileno(), "rb", closefd=False) if path == STDIN else path.open("rb")
    )
    # utf-8-sig: the BOM spreadsheets write; newline="": as the csv module asks.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _not_utf8(cells: Sequence[str]) -> str | None:
    """Why a row read with surrogateescape is not UTF-8 text, or None if it is."""
    for cell in cells:
        found = UNDECODABLE.search(cell)
        if found:
            byte = ord(found.group()) - 0xDC00
            return f"not UTF-8 text (byte 0x{byte:02x}): the file must be UTF-8; save it as UTF-8"
    return None


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return (
            f"a cell is longer than {csv.field_size_limit():,} characters "
            "(an unclosed quote, or not a CSV file of readings)"
        )
    return f"not readable as CSV: {error}"


def _header(reader: Iterator[list[str]], path: Path) -> list[str]:
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise CsvLayoutError(f"{label(path)}:1: {_csv_problem(exc)}") from None
    if header and header[0].startswith(UTF16_BOMS):
        raise CsvLayoutError(
            f"{label(path)}:1: the file is UTF-16 text (it starts with a UTF-16 byte order "
            "mark), not UTF-8: save it as UTF-8"
        )
    problem = _not_utf8(header)
    if problem:
        raise CsvLayoutError(f"{label(path)}:1: the header is {problem}")
    return header


def read_rows(
    path: Path, quantity: str | None, rules: ReadingRules
) -> tuple[list[str], Iterator[tuple[int, Reading | Refusal]]]:
    """The file's quantity columns, and each row with its line number, parsed and checked.

    Iterating raises CsvReadError at the first line that cannot be read, having yielded
    every row before it.
    """
    file = _open(path)
    reader = csv.reader(file)
    try:
        columns = quantity_columns(_header(reader, path), path, quantity)
    except BaseException:
        file.close()
        raise

    def rows() -> Iterator[tuple[int, Reading | Refusal]]:
        with file:
            try:
                for row in reader:
                    if not row:
                        continue
                    problem = _not_utf8(row)
                    if problem:
                        raise CsvReadError(reader.line_num, f"the line is {problem}")
                    yield reader.line_num, parse_row(row, columns, rules)
            except csv.Error as exc:
                raise CsvReadError(reader.line_num, _csv_problem(exc)) from None
            except OSError as exc:
                raise CsvReadError(reader.line_num, f"cannot read on: {exc.strerror}") from None

    return columns, rows()
