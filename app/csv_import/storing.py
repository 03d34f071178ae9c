"""Storing checked readings in batches through the ingest writer, and counting what happened."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from app.csv_import.progress import Progress
from app.csv_import.rows import CsvReadError, Refusal
from app.telemetry import (
    OLDER_THAN_RETENTION,
    DeviceRef,
    Measurements,
    QuantityLimitExceeded,
    Reading,
    StorageUnavailable,
)


@dataclass(slots=True)
class ImportReport:
    """What an import did, counted as the ingest API counts: values stored and duplicates."""

    rows: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # reason -> rows
    stopped: str | None = None  # why storing stopped before the end of the file
    started: float = field(default_factory=time.monotonic)

    @property
    def refused_rows(self) -> int:
        """Rows not stored because they broke a rule."""
        return sum(self.refused.values())


async def store(
    measurements: Measurements,
    device: DeviceRef,
    rows: Iterator[tuple[int, Reading | Refusal]],
    *,
    batch_readings: int,
    progress: Progress,
) -> ImportReport:
    """Store the good rows in transactions of `batch_readings`; report and count the rest.

    Stops at the first batch the database or the writer refuses (StorageUnavailable,
    QuantityLimitExceeded), saying so in `stopped`: the batches before it are stored.
    Stops as well at a line that cannot be read (CsvReadError), after storing every
    row before it.
    """
    report = ImportReport()
    batch: list[Reading] = []
    line = 0
    unreadable: CsvReadError | None = None
    try:
        try:
            for line, parsed in rows:
                report.rows += 1
                if isinstance(parsed, Refusal):
                    report.refused[parsed.reason] += 1
                    progress.refused(line, parsed.message, report.refused_rows)
                else:
                    batch.append(parsed)
                if len(batch) >= batch_readings:
                    await _record(measurements, device, batch, report)
                    progress.advance(report.rows)
                    batch = []
        except CsvReadError as exc:
            unreadable = exc
            progress.stopped(exc.line, exc.message)
        if batch:
            await _record(measurements, device, batch, report)
    except (StorageUnavailable, QuantityLimitExceeded) as exc:
        report.stopped = f"stopped at line {line:,}, whose batch was not stored: {exc}"
    else:
        if unreadable is not None:
            report.stopped = f"stopped at line {unreadable.line:,}: {unreadable.message}"
    progress.advance(report.rows)
    return report


async def _record(
    measurements: Measurements, device: DeviceRef, batch: list[Reading], report: ImportReport
) -> None:
    # "Last seen" becomes the newest reading's time, not the time of the import: the
    # device was not heard from now.
    newest = max(r.measured_at for r in batch)
    result = await measurements.record(device, batch, received_at=newest)
    report.stored += result.stored
    report.duplicates += result.duplicates


def summary(report: ImportReport, *, raw_retention_days: int) -> list[str]:
    """The closing lines: what was stored, skipped and refused, how long it took."""
    elapsed = time.monotonic() - report.started
    rate = report.rows / elapsed if elapsed > 0 else 0.0
    lines = [
        f"{_rows(report.rows)} read in {elapsed:.1f} s ({rate:,.0f} rows/s): "
        f"{_rows(report.stored, 'value')} stored, "
        f"{report.duplicates:,} already stored (duplicates), "
        f"{_rows(report.refused_rows)} refused"
    ]
    if report.stopped:
        lines.append(
            f"  {report.stopped}. The rows before it are stored; importing the file again "
            "stores only what is missing."
        )
    for reason, count in report.refused.most_common():
        lines.append(f"  refused: {_rows(count)}, {reason}")
    if report.refused[OLDER_THAN_RETENTION]:
        lines.append(
            f"  hint: this server keeps raw readings {raw_retention_days} days. To import "
            "older ones, raise TELEMETRY_RAW_RETENTION_DAYS (for the server as well, or its "
            "retention deletes them again), then import the file again: what is stored "
            "already counts as duplicates."
        )
    return lines


def _rows(count: int, noun: str = "row") -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"
