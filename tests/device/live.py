"""End-to-end helpers: the real server on a port that survives restarts, the agent as a process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import create_engine, text

from app.config import Settings
from app.main import create_app

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_on(settings: Settings, port: int) -> Iterator[None]:
    """The real server on 127.0.0.1:`port` until the block ends (it can be started again)."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), "the server to start")
    assert server.started, "the test server did not start"
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll `condition` until it holds; fail the test naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stored_values(database_url: str, device: str) -> dict[str, int]:
    """How many values the server stored for `device`, per quantity."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT s.quantity, count(*) FROM measurements m "
                    "JOIN series s ON s.id = m.series_id JOIN devices d ON d.id = s.device_id "
                    "WHERE d.name = :name GROUP BY s.quantity"
                ),
                {"name": device},
            ).all()
    finally:
        engine.dispose()
    return {str(quantity): int(count) for quantity, count in rows}


def agent_env(**options: object) -> dict[str, str]:
    """The environment for an agent process: options as TELEMETRY_AGENT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_AGENT_")}
    env["PYTHONPATH"] = str(ROOT)
    # A freshly booted CI machine may not be NTP-synchronised; these tests are not about that.
    env["TELEMETRY_AGENT_CLOCK_SYNC_GRACE"] = "0"
    for name, value in options.items():
        env[f"TELEMETRY_AGENT_{name.upper()}"] = str(value)
    return env


def start_agent(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`telemetry-agent COMMAND...` as a child process, its stderr appended to `log`."""
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "device.cli", *command],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def agent_status(spool: Path, env: dict[str, str]) -> dict[str, Any]:
    """`telemetry-agent status --json` of a spool, as a dict."""
    result = subprocess.run(
        [sys.executable, "-m", "device.cli", "status", "--spool", str(spool), "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    status: dict[str, Any] = json.loads(result.stdout)
    return status
