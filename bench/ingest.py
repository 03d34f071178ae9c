"""Ingest throughput and latency: the real server against a bare FastAPI endpoint.

Both run side by side in this one run (one uvicorn worker each, on loopback), loaded in
alternating rounds by wrk (real, bare, bare, real, ...), so the machine's drift hits
both alike; the ratio reported is the median of the ratios of adjacent rounds. Reports:

  single   requests/s of one-measurement posts, real and bare, and their ratio
  p99      latency of the real server's single posts at the same concurrency
  batch    values stored per second with 500 measurements (1,000 values) per request
  naive    optional: a naive endpoint, one ORM transaction and fsync per request (--naive)

Usage: python bench/ingest.py [--rounds 8] [--duration 4] [--connections 32] [--naive]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).with_name("ingest.lua")
DEVICES = 200


@dataclass
class WrkResult:
    """What one wrk run measured."""

    requests_per_s: float
    p99_ms: float
    failures: int


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(url: str, timeout: float = 20.0) -> None:
    """Poll `url` until it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def uvicorn_server(target: list[str], env: dict[str, str], health: str) -> Iterator[str]:
    """Run `uvicorn TARGET` on a free port; yields its base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", *target, "--port", str(port),
        "--log-level", "warning", "--no-access-log", "--no-proxy-headers",
        "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + health)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def run_wrk(
    url: str, tokens: Path, *, duration: float, connections: int, batch: int, offset: int
) -> WrkResult:
    """One wrk run; every request carries new readings."""
    env = {**os.environ, "TOKENS_FILE": str(tokens), "BATCH": str(batch), "OFFSET": str(offset)}
    command = ["wrk", "-t2", f"-c{connections}", f"-d{round(duration)}s", "--latency"]
    output = subprocess.run(
        [*command, "-s", str(LUA), url], capture_output=True, text=True, env=env, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    assert p99 is not None, output
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    failures = int(re.search(r"FAILURES (\d+)", output).group(1))  # type: ignore[union-attr]
    return WrkResult(rps, float(p99.group(1)) * scale, failures)


def prepare_database(workdir: Path, env: dict[str, str], devices: int = DEVICES) -> Path:
    """Migrate a fresh SQLite database and register devices; returns the tokens file."""
    script = (
        "import os\n"
        "from app import schema_migrations\n"
        "from app.config import Settings\n"
        "from app.db import create_db_engine, create_session_factory\n"
        "from app.telemetry.clock import utc_now\n"
        "from app.telemetry.devices import Devices\n"
        "settings = Settings.from_environ(os.environ)\n"
        "schema_migrations.upgrade(settings.database_url)\n"
        "devices = Devices(create_session_factory(create_db_engine(settings)), utc_now)\n"
        f"print('\\n'.join(devices.add(f'bench-{{i}}')[1] for i in range({devices})))\n"
    )
    tokens = workdir / f"tokens-{devices}.txt"
    tokens.write_text(
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return tokens


def server_env(workdir: Path, name: str, **extra: str) -> dict[str, str]:
    """Environment of a real server with its own fresh database."""
    for suffix in ("", "-wal", "-shm"):
        (workdir / f"{name}.db{suffix}").unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
    env.update(
        TELEMETRY_DATABASE_URL=f"sqlite:///{workdir / name}.db",
        # One load generator on one address posting for 200 devices: per-device
        # limits stay on (and are counted), set above what the load needs.
        TELEMETRY_RATE_LIMIT_DEVICE="100000/minute",
        TELEMETRY_RATE_LIMIT_IP="none",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--naive", action="store_true", help="also run a naive commit-per-request endpoint"
    )
    parser.add_argument(
        "--synchronous", default="FULL", choices=["FULL", "NORMAL"], help="SQLite durability"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    real_env = server_env(workdir, "real", TELEMETRY_SQLITE_SYNCHRONOUS=args.synchronous)
    tokens = prepare_database(workdir, real_env)
    real_target = ["--factory", "app.main:create_app_from_env"]
    bare_target = ["bench.bare_app:app"]
    offset = 0

    def load(url: str, batch: int = 0, duration: float = args.duration) -> WrkResult:
        nonlocal offset
        offset += 1
        return run_wrk(
            url, tokens, duration=duration, connections=args.connections, batch=batch, offset=offset
        )

    results: dict[str, list[WrkResult]] = {"real": [], "bare": [], "batch": [], "naive": []}
    with (
        uvicorn_server(real_target, real_env, "/healthz") as real,
        uvicorn_server(bare_target, server_env(workdir, "bare"), "/docs") as bare,
    ):
        for url in (real, bare):  # warm up: token caches, connection pools, JIT-free Python
            load(url, duration=2)
        for round_index in range(args.rounds):
            order = [("real", real), ("bare", bare)]
            for name, url in order if round_index % 2 == 0 else reversed(order):
                results[name].append(load(url))
                print(f"round {round_index + 1} {name}: {results[name][-1]}", flush=True)
        for _ in range(max(3, args.rounds // 2)):
            results["batch"].append(load(real, batch=500))
            print(f"batch: {results['batch'][-1]}", flush=True)
    if args.naive:
        naive_env = server_env(workdir, "naive")
        prepare_database(workdir, naive_env)
        with uvicorn_server(["bench.naive_app:app"], naive_env, "/docs") as naive:
            load(naive, duration=2)
            for _ in range(args.rounds):
                results["naive"].append(load(naive))
                print(f"naive: {results['naive'][-1]}", flush=True)

    failures = sum(r.failures for rs in results.values() for r in rs)
    real_rps = statistics.median(r.requests_per_s for r in results["real"])
    bare_rps = statistics.median(r.requests_per_s for r in results["bare"])
    ratio = statistics.median(
        r.requests_per_s / b.requests_per_s
        for r, b in zip(results["real"], results["bare"], strict=True)
    )
    p99 = statistics.median(r.p99_ms for r in results["real"])
    batch_values = statistics.median(r.requests_per_s for r in results["batch"]) * 1000
    print()
    print(f"machine: {os.cpu_count()} cores; {args.rounds} rounds of {args.duration:g} s, "
          f"{args.connections} connections, wrk -t2, medians")  # fmt: skip
    print(f"single  real {real_rps:8.0f} req/s   bare {bare_rps:8.0f} req/s   "
          f"ratio {ratio:.2f} (target >= 0.80)")  # fmt: skip
    print(f"p99     real {p99:8.1f} ms at {args.connections} connections (target <= 25 ms)")
    print(
        f"batch   {batch_values:8.0f} values/s stored = {batch_values / 2:.0f} measurements/s, "
        "500 measurements of 2 values per request (target >= 100,000 readings/s)"
    )
    if results["naive"]:
        naive_rps = statistics.median(r.requests_per_s for r in results["naive"])
        print(f"naive   {naive_rps:8.0f} req/s with one ORM transaction and fsync per request "
              f"(the server does {real_rps / naive_rps:.1f}x)")  # fmt: skip
    if failures:
        sys.exit(f"{failures} requests were not answered 2xx: the figures above are not valid")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
