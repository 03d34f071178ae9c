"""`telemetry import DEVICE FILE.csv`: store a CSV file's readings as the ingest API would.

rows.py reads the file into checked readings (ReadingRules, the API's own rules),
storing.py stores them through the same group-commit writer as ingest and counts what
happened, progress.py shows how far it got. HELP below is the command's --help.

The readings are announced on this process's bus only: a server running at the same time
stores nothing twice and shows them in history, but its live views do not hear of them.

Beside a running server, the import writes its rollups in the transaction of each batch
(a flush interval of 0) and never rebuilds the minutes marked pending: those are the
server's, whose deltas it still holds in memory and adds at its next flush, so a rebuild
here would count them twice, and clearing their marks would lose them if it crashed.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine

from app.bus import InProcessBus
from app.config import Settings
from app.csv_import.progress import Progress
from app.csv_import.rows import CsvLayoutError, Refusal, count_rows, label, read_rows
from app.csv_import.storing import ImportReport, store, summary
from app.db import create_db_engine, create_session_factory
from app.telemetry import (
    DeviceError,
    DeviceNotFound,
    DeviceRef,
    Devices,
    Measurements,
    Reading,
    ReadingRules,
    utc_now,
)

__all__ = [
    "HELP",
    "CsvLayoutError",
    "ImportReport",
    "add_arguments",
    "import_file",
    "summary",
]

HELP = """\
Store the readings of a CSV file as if DEVICE had posted them.

The file starts with a header, in one of two layouts:
  time,value                   a raw.csv export (one quantity: --quantity, or the
                               export's file name NAME-QUANTITY-raw.csv, says which)
  time,temperature,humidity    one column per quantity; an empty cell is no value
Times are RFC 3339 with a time zone, e.g. 2026-11-21T10:00:00Z; values are plain
decimal numbers (21.5, -3, 1.2e3). The file is UTF-8. FILE may be a pipe, or - for
standard input.

Every row must follow the ingest API's rules (plausible values, quantity names, a
time not ahead of the server clock, not before 2000, not older than the raw readings
kept: TELEMETRY_RAW_RETENTION_DAYS). A row that breaks one is listed with its line
number and skipped; the other rows are stored, in transactions of at most
TELEMETRY_WRITE_BATCH_ROWS values. A value already stored counts as a duplicate, so
importing a file again stores only what is missing.

Progress goes to stderr, the summary to stdout. Exit status: 0 when every row was
stored or already present, 1 when a row was refused or the import stopped early (at
a line that is not UTF-8 or not CSV: the rows before it are stored).
A running server keeps serving; its live views do not show imported readings (they
are in the history)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments, as `import_file` takes them."""
    parser.add_argument("device", metavar="DEVICE", help="the device the readings belong to")
    parser.add_argument(
        "file",
        metavar="FILE.csv",
        type=Path,
        help="the CSV file to read: a file, a pipe, or - for standard input",
    )
    parser.add_argument(
        "--quantity",
        help="the quantity of a `time,value` file (default: from an export's file name, "
        "NAME-QUANTITY-raw.csv)",
    )


def import_file(
    settings: Settings, device_name: str, path: Path, quantity: str | None, stderr: TextIO
) -> ImportReport:
    """Import `path` into `device_name`; raises DeviceError, CsvLayoutError or OSError first."""
    engine = create_db_engine(settings)
    try:
        devices = Devices(create_session_factory(engine), utc_now, token_cache_seconds=0)
        try:
            device = devices.ref(device_name)
        except DeviceNotFound as exc:
            if exc.alike is not None:  # names are unique without regard to case
                raise
            raise DeviceError(
                f"{exc}; add it first with: telemetry device add {shlex.quote(device_name)}"
            ) from None
        rules = ReadingRules.from_settings(settings, utc_now())
        columns, rows = read_rows(path, quantity, rules)
        progress = Progress(label(path), count_rows(path), stderr)
        try:
            batch = max(1, settings.write_batch_rows // len(columns))
            return asyncio.run(_store(engine, settings, device, rows, batch, progress))
        finally:
            progress.close()
    finally:
        engine.dispose()


async def _store(
    engine: Engine,
    settings: Settings,
    device: DeviceRef,
    rows: Iterator[tuple[int, Reading | Refusal]],
    batch: int,
    progress: Progress,
) -> ImportReport:
    bus = InProcessBus()
    # Rollups written with every batch, pending minutes left alone: see the module's doc.
    every_batch = settings.model_copy(update={"rollup_flush_seconds": 0.0})
    measurements = Measurements.from_settings(engine, bus, every_batch)
    await measurements.start(rebuild_pending=False)
    try:
        return await store(measurements, device, rows, batch_readings=batch, progress=progress)
    finally:
        await measurements.stop()
        await bus.aclose()
