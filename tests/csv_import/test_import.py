"""`telemetry import`: a CSV file stored by the ingest rules, through the real command."""

from __future__ import annotations

import contextlib
import io
import os
import pty
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.csv_import.progress import Progress
from app.db import create_db_engine
from tests.conftest import AppFactory
from tests.factories import add_device, bearer, make_settings, register

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def raw_csv(client: TestClient, device: str, quantity: str = "temperature") -> Any:
    window = {"from": iso(NOW - timedelta(days=30)), "to": iso(NOW + timedelta(minutes=5))}
    answer = client.get(
        f"/api/v1/devices/{device}/raw.csv", params={"quantity": quantity, **window}
    )
    assert answer.status_code == 200, answer.text
    return answer


@pytest.fixture
def shed(sqlite_url: str) -> str:
    """The database's URL, with a device named shed registered in it."""
    engine = create_db_engine(make_settings(sqlite_url))
    register(engine, "shed")
    engine.dispose()
    return sqlite_url


def run_import(url: str, *args: str, **env: str) -> int:
    return main(["import", *args], {"TELEMETRY_DATABASE_URL": url, **env})


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_raw_csv_export_imports_unchanged_while_the_server_runs(
    make_app: AppFactory, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(make_app()) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        add_device(client.app, "copy")  # type: ignore[arg-type]
        body = {
            "measurements": [
                {
                    "measured_at": iso(NOW - timedelta(minutes=i, microseconds=7 * i)),
                    "values": {"temperature": 20 + i / 7},
                }
                for i in range(50)
            ]
        }
        posted = client.post("/api/v1/measurements/batch", json=body, headers=bearer(token))
        assert posted.status_code == 201
        export = raw_csv(client, "greenhouse")
        # Saved under the name the export suggests, which says the quantity.
        path = tmp_path / "greenhouse-temperature-raw.csv"
        assert path.name in export.headers["content-disposition"]
        path.write_text(export.text)

        assert run_import(sqlite_url, "copy", str(path)) == 0
        out = capsys.readouterr()
        assert "50 rows read" in out.out and "50 values stored, 0 already stored" in out.out
        assert raw_csv(client, "copy").text == export.text

        assert run_import(sqlite_url, "greenhouse", str(path)) == 0
        assert "0 values stored, 50 already stored (duplicates)" in capsys.readouterr().out
        assert raw_csv(client, "greenhouse").text == export.text


def test_bad_rows_are_listed_by_line_counted_by_rule_and_the_others_stored(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = iso(NOW - timedelta(days=40))
    path = write(
        tmp_path / "shed.csv",
        "time,temperature,humidity",
        f"{iso(NOW - timedelta(minutes=2))},21.5,40",
        f"{old},20.0,",
        f"{iso(NOW - timedelta(minutes=1))},500,40",
        "yesterday,20,40",
        f"{iso(NOW - timedelta(minutes=1))},warm,40",
        f"{iso(NOW - timedelta(minutes=1))},20",
        f"{iso(NOW)},,41",
    )
    assert run_import(shed, "shed", str(path)) == 1
    out, err = capsys.readouterr()
    too_old = (NOW - timedelta(days=40)).isoformat()
    assert f"{path}:3: measured_at {too_old} is more than 30 days old" in err
    assert f"{path}:4: temperature 500 °C is outside the plausible range -90..150 °C" in err
    assert f"{path}:5: time 'yesterday' is not an RFC 3339 time" in err
    assert f"{path}:6: temperature 'warm' is not a number" in err
    assert f"{path}:7: expected 3 cells, as in the header, got 2" in err
    assert "7 rows read" in out and "3 values stored" in out and "5 rows refused" in out
    for reason in (
        "older than the raw retention",
        "outside the plausible range",
        "time not RFC 3339",
        "not a number",
        "wrong number of cells",
    ):
        assert f"refused: 1 row, {reason}" in out
    assert "raise TELEMETRY_RAW_RETENTION_DAYS" in out

    # With the retention raised, the old row is stored and the rest count as duplicates.
    assert run_import(shed, "shed", str(path), TELEMETRY_RAW_RETENTION_DAYS="60") == 1
    out = capsys.readouterr().out
    assert "1 value stored, 3 already stored (duplicates), 4 rows refused" in out


@pytest.mark.parametrize(
    ("measured_at", "temperature"),
    [
        (NOW - timedelta(days=31), 20.0),
        (datetime(1999, 12, 31, tzinfo=UTC), 20.0),
        (NOW - timedelta(minutes=1), -100.0),
        (NOW - timedelta(minutes=1), float("inf")),
    ],
)
def test_the_import_refuses_what_the_api_refuses_in_the_same_words(
    make_app: AppFactory,
    sqlite_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    measured_at: datetime,
    temperature: float,
) -> None:
    with TestClient(make_app()) as client:
        token = add_device(client.app, "pump")  # type: ignore[arg-type]
        answer = client.post(
            "/api/v1/measurements",
            content=f'{{"measured_at": "{iso(measured_at)}", "values": {{"temperature": '
            f"{'1e999' if temperature == float('inf') else temperature}}}}}",
            headers={**bearer(token), "Content-Type": "application/json"},
        )
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    path = write(tmp_path / "pump.csv", "time,temperature", f"{iso(measured_at)},{temperature}")
    assert run_import(sqlite_url, "pump", str(path)) == 1
    assert f"{path}:2: {error['msg']}\n" in capsys.readouterr().err


def test_an_unknown_device_is_named_with_how_to_add_it(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "x.csv", "time,temperature", f"{iso(NOW)},20")
    assert run_import(sqlite_url, "north shed", str(path)) == 1
    assert capsys.readouterr().err == (
        "telemetry: no device is named 'north shed'; "
        "add it first with: telemetry device add 'north shed'\n"
    )


def test_a_time_value_file_needs_its_quantity(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "readings.csv", "time,value", f"{iso(NOW)},20")
    assert run_import(shed, "shed", str(path)) == 1
    assert "say which with --quantity" in capsys.readouterr().err
    assert run_import(shed, "shed", str(path), "--quantity", "humidity") == 0
    assert "1 value stored" in capsys.readouterr().out


def test_a_file_without_the_header_stores_nothing(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "readings.csv", f"{iso(NOW)},20")
    assert run_import(shed, "shed", str(path)) == 1
    assert "the first line must be a header starting with `time`" in capsys.readouterr().err


def test_a_batch_the_writer_refuses_stops_the_import_saying_where(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "shed.csv", "time,temperature,humidity", f"{iso(NOW)},20,40")
    limit = {"TELEMETRY_MAX_QUANTITIES_PER_DEVICE": "1"}
    assert run_import(shed, "shed", str(path), **limit) == 1
    out = capsys.readouterr().out
    assert "stopped at line 2, whose batch was not stored" in out
    assert "importing the file again stores only what is missing" in out


def test_without_a_terminal_progress_is_written_as_lines() -> None:
    stream = io.StringIO()
    progress = Progress("big.csv", 100, stream, every=0, max_listed=2)
    progress.advance(40)
    for line in (3, 4, 5, 6):
        progress.refused(line, "bad", line - 2)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("big.csv: 40 of about 100 rows, ")
    assert "rows/s, about" in lines[0] and lines[0].endswith("s left")
    assert lines[1:] == [
        "big.csv:3: bad",
        "big.csv:4: bad",
        "big.csv: further refused rows are counted, not listed",
    ]


def test_without_a_total_progress_says_the_rows_done_and_the_rate() -> None:
    stream = io.StringIO()
    progress = Progress("stdin", None, stream, every=0)
    progress.advance(40)
    progress.close()
    (line,) = stream.getvalue().splitlines()
    assert line.startswith("stdin: 40 rows, ") and line.endswith(" rows/s")


@pytest.mark.slow
def test_on_a_terminal_a_bar_shows_the_rate(shed: str, tmp_path: Path) -> None:
    rows = [f"{iso(NOW - timedelta(seconds=i))},{20 + i % 10}" for i in range(2000)]
    path = write(tmp_path / "shed.csv", "time,temperature", *rows)
    controller, terminal = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ["TELEMETRY_DATABASE_URL"] = shed
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "import", "shed", str(path)],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=environ,
        text=True,
    )
    os.close(terminal)
    shown = b""
    with contextlib.suppress(OSError):  # EIO: the terminal's other end closed, all read
        while chunk := os.read(controller, 65536):
            shown += chunk
    os.close(controller)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, shown
    assert "2,000 values stored" in out
    bar = shown.decode()
    assert "100%" in bar and "rows/s" in bar


def test_a_device_named_in_another_case_is_suggested_without_adding_it(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `device add SHED` would fail: names are unique without regard to case.
    path = write(tmp_path / "x.csv", "time,temperature", f"{iso(NOW)},20")
    assert run_import(shed, "SHED", str(path)) == 1
    assert capsys.readouterr().err == (
        "telemetry: no device is named 'SHED'; did you mean 'shed'?\n"
    )


@pytest.mark.parametrize("cell", ["1_0", "\u0663", "\uff12\uff10", "2O", "0x10", " "])
def test_only_plain_decimal_numbers_are_values(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    path = tmp_path / "shed.csv"
    path.write_text(f"time,temperature\n{iso(NOW)},{cell}\n{iso(NOW)},1.5e1\n", encoding="utf-8")
    assert run_import(shed, "shed", str(path)) == 1
    out, err = capsys.readouterr()
    assert f"{path}:2: temperature {cell!r} is not a number: write digits 0-9" in err
    assert "1 value stored" in out and "refused: 1 row, not a number" in out


def test_nan_is_refused_by_the_ingest_rule_not_as_a_spelling(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "shed.csv", "time,temperature", f"{iso(NOW)},nan")
    assert run_import(shed, "shed", str(path)) == 1
    err = capsys.readouterr().err
    assert f"{path}:2: " in err and "is not a number" not in err


def rows_csv(count: int) -> bytes:
    lines = ["time,temperature", *(f"{iso(NOW - timedelta(seconds=i))},20" for i in range(count))]
    return ("\n".join(lines) + "\n").encode()


def test_a_pipe_is_read_once_and_every_row_stored(
    shed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # What `telemetry import shed <(zcat shed.csv.gz)` passes: /dev/fd/N, a pipe.
    data = rows_csv(3000)  # more than a pipe's buffer: the writer waits for the import
    reading, writing = os.pipe()

    def feed() -> None:
        with os.fdopen(writing, "wb") as pipe:
            pipe.write(data)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        assert run_import(shed, "shed", f"/dev/fd/{reading}") == 0
    finally:
        feeder.join(timeout=10)
        os.close(reading)
    assert "3,000 rows read" in capsys.readouterr().out


def test_standard_input_is_read_with_a_dash(shed: str) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ["TELEMETRY_DATABASE_URL"] = shed
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "import", "shed", "-"],
        input=rows_csv(50),
        capture_output=True,
        env=environ,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"50 values stored" in done.stdout


def test_a_line_not_utf8_stops_the_import_after_storing_the_rows_before_it(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shed.csv"
    later = f"{iso(NOW)},21\n".encode()
    path.write_bytes(rows_csv(2500) + b"2026-01-01T00:00:00Z,2\xff\n" + later)
    # Batches of 1,000 values: two are stored, the third is in flight at the bad line.
    assert run_import(shed, "shed", str(path), TELEMETRY_WRITE_BATCH_ROWS="1000") == 1
    out, err = capsys.readouterr()
    assert f"{path}:2502: the line is not UTF-8 text (byte 0xff)" in err
    assert "save it as UTF-8" in err and "Traceback" not in err
    assert "2,500 rows read" in out and "2,500 values stored" in out
    assert "stopped at line 2,502: the line is not UTF-8 text" in out


def test_a_utf16_file_is_named_as_such(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shed.csv"
    path.write_text(f"time,temperature\n{iso(NOW)},20\n", encoding="utf-16")
    assert run_import(shed, "shed", str(path)) == 1
    assert capsys.readouterr().err == (
        f"telemetry: {path}:1: the file is UTF-16 text (it starts with a UTF-16 byte order "
        "mark), not UTF-8: save it as UTF-8\n"
    )


def test_a_binary_file_is_not_utf8(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shed.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert run_import(shed, "shed", str(path)) == 1
    err = capsys.readouterr().err
    assert f"{path}:1: the header is not UTF-8 text (byte 0x89)" in err


def test_a_cell_over_the_csv_limit_stops_the_import_after_the_rows_before_it(
    shed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shed.csv"
    path.write_bytes(rows_csv(10) + f"{iso(NOW)},{'9' * 200_000}\n".encode())
    assert run_import(shed, "shed", str(path)) == 1
    out, err = capsys.readouterr()
    assert f"{path}:12: a cell is longer than 131,072 characters" in err
    assert "10 values stored" in out and "stopped at line 12: a cell is longer" in out
