"""`telemetry import` of 100,000 readings: wall time and readings per second.

Writes two CSV files of `--readings` readings spread over the last 25 days (well inside
the default 30-day raw retention): `time,value` (the raw.csv export's layout, one
temperature per row) and `time,temperature,humidity` (two values per row). Each round
imports each file with the real command, `python -m app.cli import`, as a subprocess
into a fresh SQLite database (default settings: FULL synchronous, 5,000 values per
transaction), stderr not a terminal, so the time includes the process start, the
migration and the final summary. The baseline, in the same run: reading and parsing the
same file with the csv module, fromisoformat and float (no checks, no storing), the
floor any importer in Python pays.

Usage: python bench/import_csv.py [--readings 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_files(folder: Path, readings: int) -> dict[str, Path]:
    """The two layouts, `readings` rows each, the newest a minute old."""
    now = datetime.now(UTC).replace(microsecond=0)
    step = timedelta(days=25) / readings
    times = [(now - timedelta(minutes=1) - step * i).isoformat() for i in range(readings)][::-1]
    raw = folder / "bench-temperature-raw.csv"
    wide = folder / "bench-wide.csv"
    with raw.open("w") as file:
        file.write("time,value\n")
        file.writelines(f"{t},{15 + (i % 200) / 10!r}\n" for i, t in enumerate(times))
    with wide.open("w") as file:
        file.write("time,temperature,humidity\n")
        file.writelines(
            f"{t},{15 + (i % 200) / 10!r},{40 + (i % 300) / 10!r}\n" for i, t in enumerate(times)
        )
    return {"time,value": raw, "time,temperature,humidity": wide}


def telemetry(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ["TELEMETRY_DATABASE_URL"] = f"sqlite:///{database}"
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )


def time_import(folder: Path, path: Path, round_number: int) -> tuple[float, str]:
    """Seconds one import takes into a fresh database, and its summary line."""
    database = folder / f"round-{round_number}-{path.stem}.db"
    telemetry(database, "device", "add", "bench")
    started = time.perf_counter()
    result = telemetry(database, "import", "bench", str(path))
    elapsed = time.perf_counter() - started
    return elapsed, result.stdout.splitlines()[0]


def time_parse(path: Path) -> float:
    """Seconds to read and parse the file without checking or storing anything."""
    started = time.perf_counter()
    with path.open(newline="") as file:
        reader = csv.reader(file)
        next(reader)
        for row in reader:
            datetime.fromisoformat(row[0])
            for cell in row[1:]:
                float(cell)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        files = write_files(folder, args.readings)
        print(f"{args.readings:,} readings per file, {args.rounds} rounds, median shown")
        for layout, path in files.items():
            imports, parses, summary = [], [], ""
            for round_number in range(args.rounds):
                elapsed, summary = time_import(folder, path, round_number)
                imports.append(elapsed)
                parses.append(time_parse(path))
            took, floor = statistics.median(imports), statistics.median(parses)
            print(
                f"{layout:<28} import {took:6.2f} s ({args.readings / took:>9,.0f} readings/s)"
                f"   parse only {floor:5.2f} s   import/parse {took / floor:4.1f}x"
            )
            print(f"{'':<28} {summary}")


if __name__ == "__main__":
    main()
