"""The `telemetry` command, run as a user runs it: in a subprocess, from another directory."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from alembic import command

from app import schema_migrations
from app.cli import build_parser, main
from app.telemetry.tokens import hash_token
from tests.pipes import run_into_closed_pipe


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ.update(TELEMETRY_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}", **env)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_device_add_prints_the_token_alone_on_the_last_line(tmp_path: Path) -> None:
    result = run(tmp_path, "device", "add", "greenhouse")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("tlm_") and " " not in token
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT token_hash FROM devices")).scalar_one()
    engine.dispose()
    assert stored == hash_token(token)


def test_adding_a_name_twice_fails_with_a_message(tmp_path: Path) -> None:
    run(tmp_path, "device", "add", "greenhouse")
    result = run(tmp_path, "device", "add", "greenhouse")
    assert result.returncode == 1
    assert "already exists" in result.stderr


def test_a_name_differing_only_in_case_is_refused_naming_the_device_and_rule(
    tmp_path: Path,
) -> None:
    run(tmp_path, "device", "add", "Greenhouse")
    result = run(tmp_path, "device", "add", "greenhouse")
    assert result.returncode == 1
    assert result.stderr == (
        "telemetry: a device named 'Greenhouse' already exists; "
        "names are compared without regard to case\n"
    )


def test_a_bad_name_is_refused_stating_the_rule(tmp_path: Path) -> None:
    result = run(tmp_path, "device", "add", "shed/north")
    assert result.returncode == 1
    assert "a device name cannot contain '/': names are 1 to 64 characters" in result.stderr
    assert "got 'shed/north'" in result.stderr


def test_a_migration_refused_by_the_data_exits_1_saying_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    command.upgrade(schema_migrations.alembic_config(url), "0002")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for i, name in enumerate(["Shed", "shed"]):
            conn.execute(
                sa.text("INSERT INTO devices (name, token_hash, created_at) VALUES (:n, :h, 0)"),
                {"n": name, "h": str(i) * 64},
            )
    engine.dispose()
    result = run(tmp_path, "migrate")
    assert result.returncode == 1
    assert result.stderr.startswith("telemetry: cannot migrate the database: device names")
    assert "'Shed' (id 1) and 'shed' (id 2)" in result.stderr
    assert "Traceback" not in result.stderr


def test_device_list_and_revoke(tmp_path: Path) -> None:
    assert "No devices yet" in run(tmp_path, "device", "list").stdout
    run(tmp_path, "device", "add", "greenhouse")
    run(tmp_path, "device", "add", "shed")
    listing = run(tmp_path, "device", "list").stdout
    assert "greenhouse" in listing and "shed" in listing and "active" in listing
    revoked = run(tmp_path, "device", "revoke", "shed")
    assert revoked.returncode == 0 and "Revoked device 'shed'" in revoked.stdout
    lines = run(tmp_path, "device", "list").stdout.splitlines()
    assert any(line.startswith("shed") and "revoked" in line for line in lines)
    missing = run(tmp_path, "device", "revoke", "ghost")
    assert missing.returncode == 1 and "ghost" in missing.stderr


def test_rotate_prints_a_new_token(tmp_path: Path) -> None:
    first = run(tmp_path, "device", "add", "greenhouse").stdout.splitlines()[-1]
    second = run(tmp_path, "device", "rotate", "greenhouse").stdout.splitlines()[-1]
    assert second.startswith("tlm_") and second != first


def test_migrate_reports_the_revision(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    head = schema_migrations.head_revision()
    assert f"is at revision {head} (migrated from an empty database)" in result.stdout
    again = run(tmp_path, "migrate")
    assert f"is at revision {head}: already up to date" in again.stdout
    assert again.stderr == ""


def test_a_migration_is_logged_once_and_an_up_to_date_database_logs_nothing(
    tmp_path: Path,
) -> None:
    first = run(tmp_path, "device", "list")
    (line,) = first.stderr.splitlines()
    head = schema_migrations.head_revision()
    assert (
        f"migrated the database sqlite:///{tmp_path / 'cli.db'} from revision (empty) to {head}"
        in line
    )
    for argv in (["device", "list"], ["device", "add", "shed"], ["device", "revoke", "shed"]):
        result = run(tmp_path, *argv)
        assert result.returncode == 0 and result.stderr == "", result.stderr


def test_only_the_migrations_that_ran_are_reported(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    command.upgrade(schema_migrations.alembic_config(url), "0002")
    result = run(tmp_path, "device", "list")
    assert "from revision 0002 to" in result.stderr


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """Every command path the parser accepts, walked from argparse's own tables."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix}{name}"
                nested = subcommands(sub, path + " ")
                found.extend(nested or [path])
    return found


def test_top_level_help_lists_every_command_and_every_device_and_user_action(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"], {})
    assert exited.value.code == 0
    text = capsys.readouterr().out
    paths = subcommands(build_parser())
    assert {"device add", "device rotate", "import", "serve"} <= set(paths)
    assert {
        f"user {action}"
        for action in (
            "add", "list", "passwd", "role", "disable", "enable", "remove",
            "token", "tokens", "token-revoke",
        )
    } <= set(paths)  # fmt: skip
    lines = text.splitlines()
    for path in paths:
        (line,) = [line for line in lines if line.strip().startswith(path + " ")]
        summary = line.strip()[len(path) :].strip()
        assert summary, f"{path!r} has no description in `telemetry --help`"


def test_the_help_as_a_user_runs_it(tmp_path: Path) -> None:
    result = run(tmp_path, "--help")
    assert result.returncode == 0
    assert "device rotate NAME" in result.stdout and "import DEVICE FILE.csv" in result.stdout
    assert "user role NAME admin|viewer" in result.stdout
    assert "user token-revoke NAME TOKEN_PREFIX" in result.stdout


def test_a_bad_setting_exits_78_naming_it(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", TELEMETRY_RATE_LIMIT_IP="lots")
    assert result.returncode == 78
    assert "TELEMETRY_RATE_LIMIT_IP" in result.stderr


def test_config_lists_every_setting(tmp_path: Path) -> None:
    output = run(tmp_path, "config").stdout
    for name in (
        "TELEMETRY_DATABASE_URL",
        "TELEMETRY_RATE_LIMIT_DEVICE",
        "TELEMETRY_MAX_BODY_BYTES",
    ):
        assert name in output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_serve_migrates_serves_and_stops_promptly_on_sigterm(tmp_path: Path) -> None:
    token = run(tmp_path, "device", "add", "greenhouse").stdout.splitlines()[-1]
    (tmp_path / "cli.db").unlink()  # serve must build the schema itself
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"cli.db{suffix}").unlink(missing_ok=True)
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ["TELEMETRY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            time.sleep(0.1)
        # The schema is new, so the token from before is unknown: a clean 401, not a 500.
        answer = httpx.post(
            url + "/api/v1/measurements",
            json={"values": {"temperature": 20.0}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 401
        server.send_signal(signal.SIGTERM)
        started = time.monotonic()
        server.wait(timeout=10)
        assert time.monotonic() - started < 5
        output = server.stdout.read() if server.stdout else ""
        # The migration it ran, said once; none of Alembic's own chatter.
        assert output.count("migrated the database") == 1, output
        # No user yet: the address that creates the first admin, printed and logged.
        assert "No user exists yet" in output, output
        assert output.count(f"http://127.0.0.1:{port}/setup?code=") == 2, output
        assert "Context impl" not in output and "non-transactional DDL" not in output, output
    finally:
        if server.poll() is None:
            server.kill()


def test_output_into_a_reader_that_left_ends_quietly(tmp_path: Path) -> None:
    assert run(tmp_path, "device", "add", "greenhouse").returncode == 0
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    environ.update(TELEMETRY_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    # `telemetry device list | head -0`: the reader is gone before anything is written.
    result = run_into_closed_pipe("app.cli", "device", "list", cwd=tmp_path, env=environ)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
    assert result.returncode == 141
