"""`telemetry import`: a CSV file's readings, stored as ingest would store them."""

from __future__ import annotations

import argparse
import sys

from app import csv_import
from app.cli.schema import migrate
from app.config import Settings


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Store a CSV file's readings; exit 1 if any row was refused or storing stopped."""
    migrate(settings)
    try:
        report = csv_import.import_file(settings, args.device, args.file, args.quantity, sys.stderr)
    except OSError as exc:
        print(
            f"telemetry: cannot read {exc.filename or args.file}: {exc.strerror}", file=sys.stderr
        )
        return 1
    except csv_import.CsvLayoutError as exc:
        print(f"telemetry: {exc}", file=sys.stderr)
        return 1
    for line in csv_import.summary(report, raw_retention_days=settings.raw_retention_days):
        print(line)
    return 1 if report.refused_rows or report.stopped else 0
