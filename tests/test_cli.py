"""The `telemetry` command, run as a user runs it: in a subprocess, from another directory."""

from __future__ import annotations

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

from app.telemetry.tokens import hash_token


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
    assert "is at revision" in result.stdout


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
    finally:
        if server.poll() is None:
            server.kill()
