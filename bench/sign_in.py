"""Bursts of concurrent sign-ins beside ingest and a live stream: do they stall either?

One real server (one uvicorn worker, a fresh SQLite database with --devices devices and
--concurrency users created beforehand, the sign-in rate limits `none`). From this one
asyncio process:

  ingest   --rate single-reading posts a second on a fixed schedule, rotating through
           the devices' tokens, over keep-alive connections (raw HTTP/1.1; another
           connection is opened when every one is busy). Latency runs from a request's
           scheduled time to its answer, so a stall counts for every request it held
           up, not only for the one that met it;
  viewer   one signed-in stream on the overview (a session created in bulk): when each
           tick arrives, and how long after the tick it was sent;
  bursts   in burst phases: --concurrency sign-ins at once (POST /login, each with its
           own user and the right password, no Origin), the next burst as soon as the
           last sign-in of the previous one is answered, until the phase's time is up.

Phases alternate quiet, burst, burst, quiet, ... (--rounds pairs of --phase seconds),
after a warm-up. Reports ingest p50/p99 without and with bursts and the ratio of the
p99s (target <= 2), how long a sign-in took (p50/p99), and the viewer's longest gap
between ticks and p99 delivery in each kind of phase.

Usage: python bench/sign_in.py [--rate 400] [--concurrency 20] [--rounds 4] [--phase 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx

from bench.accounts_seed import PASSWORD, create_sessions, create_users
from bench.ingest import prepare_database, server_env, uvicorn_server
from bench.streams import Viewer, percentile, stream_request, watch

LENGTH = re.compile(rb"content-length: *(\d+)", re.IGNORECASE)


@dataclass
class Phase:
    """One stretch of time, with or without bursts, and what happened in it."""

    bursts: bool
    start: float = 0.0
    end: float = 0.0
    sign_ins: list[float] = field(default_factory=list)  # ms each


class Ingest:
    """Posts readings at a fixed rate; keeps (scheduled time, latency ms, status)."""

    def __init__(self, url: str, tokens: list[str], rate: float) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        body = b'{"values":{"temperature":21.5}}'
        self.requests = [
            b"POST /api/v1/measurements HTTP/1.1\r\nHost: bench\r\n"
            b"Content-Type: application/json\r\nAuthorization: Bearer %s\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (token.encode(), len(body), body)
            for token in tokens
        ]
        self.rate = rate
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.samples: list[tuple[float, float, int]] = []
        self.connections = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Send on schedule until `stop`; then wait for the answers still due."""
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        sent = 0
        while not stop.is_set():
            due = start + sent / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.post(self.requests[sent % len(self.requests)], due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.gather(*tasks)
        for _reader, writer in self.idle:
            writer.close()

    async def post(self, request: bytes, due: float) -> None:
        while self.idle:
            reader, writer = self.idle.pop()
            try:  # the server closes connections idle for 5 s: then the next one
                head = await self._exchange(reader, writer, request)
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self.connections += 1
            head = await self._exchange(reader, writer, request)
        self.samples.append((due, (time.monotonic() - due) * 1000, int(head[9:12])))
        self.idle.append((reader, writer))

    @staticmethod
    async def _exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> bytes:
        """Send `request`, read the whole answer; returns its head."""
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = LENGTH.search(head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        return head

    def latencies(self, phases: list[Phase]) -> list[float]:
        """Sorted latencies of the requests scheduled inside `phases`."""
        return sorted(
            ms for due, ms, _ in self.samples if any(p.start <= due < p.end for p in phases)
        )


async def sign_in(client: httpx.AsyncClient, name: str) -> float:
    """One sign-in; its duration in ms. Anything but the redirect to the page fails."""
    began = time.monotonic()
    answer = await client.post("/login", data={"username": name, "password": PASSWORD})
    if answer.status_code != 303 or "telemetry_session" not in answer.headers.get("set-cookie", ""):
        raise RuntimeError(f"sign-in of {name}: {answer.status_code} {answer.text[:200]}")
    return (time.monotonic() - began) * 1000


async def bursts(client: httpx.AsyncClient, names: list[str], phase: Phase, until: float) -> None:
    """Bursts of concurrent sign-ins, back to back, until `until` (monotonic)."""
    while time.monotonic() < until:
        phase.sign_ins += await asyncio.gather(*(sign_in(client, n) for n in names))
        client.cookies.clear()  # each sign-in comes without an earlier session


def gaps(viewer: Viewer, phases: list[Phase]) -> tuple[float, float]:
    """The longest gap between ticks ending inside `phases` (s), and their p99 delivery."""
    longest = 0.0
    delivered: list[float] = []
    for i in range(1, len(viewer.ticks)):
        at = viewer.ticks[i]
        if any(p.start < at <= p.end for p in phases):
            longest = max(longest, at - viewer.ticks[i - 1])
            delivered.append(viewer.latencies[i])
    return longest, percentile(sorted(delivered), 0.99) if delivered else float("nan")


async def measure(
    url: str, tokens: list[str], names: list[str], cookie: str, args: argparse.Namespace
) -> None:
    ingest = Ingest(url, tokens, args.rate)
    stop = asyncio.Event()
    sending = asyncio.create_task(ingest.run(stop))
    viewer = Viewer(stream_request("/events?topic=overview", cookie), b"event: ", probe=True)
    parts = urlsplit(url)
    await watch(parts.hostname or "", parts.port or 0, [viewer])
    limits = httpx.Limits(max_connections=len(names), max_keepalive_connections=len(names))
    phases: list[Phase] = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        warm = Phase(bursts=True)
        await bursts(client, names, warm, time.monotonic() + 0.001)  # warm-up: one burst
        await asyncio.sleep(args.warmup)
        for index in range(args.rounds * 2):
            phase = Phase(bursts=index % 4 in (1, 2))  # quiet, burst, burst, quiet, ...
            phase.start = time.monotonic()
            if phase.bursts:
                await bursts(client, names, phase, phase.start + args.phase)
            else:
                await asyncio.sleep(args.phase)
            phase.end = time.monotonic()
            phases.append(phase)
            print(f"  phase {index + 1}: {'bursts' if phase.bursts else 'quiet '} "
                  f"{len(phase.sign_ins)} sign-ins", flush=True)  # fmt: skip
    stop.set()
    await sending
    viewer.close()
    report(ingest, viewer, phases, args)


def report(ingest: Ingest, viewer: Viewer, phases: list[Phase], args: argparse.Namespace) -> None:
    failed = sum(1 for _, _, status in ingest.samples if status != 201)
    quiet = [p for p in phases if not p.bursts]
    busy = [p for p in phases if p.bursts]
    seconds = sum(p.end - p.start for p in busy)
    signs = sorted(ms for p in busy for ms in p.sign_ins)
    print()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{args.rounds} rounds of quiet and burst phases of {args.phase:g} s; ingest at "
          f"{args.rate:g} requests/s over {ingest.connections} connections")  # fmt: skip
    p99 = {}
    for name, kind in (("without", quiet), ("with", busy)):
        values = ingest.latencies(kind)
        p99[name] = percentile(values, 0.99)
        gap, delivery = gaps(viewer, kind)
        print(f"ingest {name:7s} sign-ins: {len(values):6d} requests, p50 "
              f"{statistics.median(values):5.1f} ms, p99 {p99[name]:6.1f} ms   live stream: "
              f"longest gap between ticks {gap:4.2f} s, p99 after the tick "
              f"{delivery:5.1f} ms")  # fmt: skip
    print(f"ingest p99 with / without bursts of {args.concurrency} sign-ins: "
          f"{p99['with'] / p99['without']:.2f} (target <= 2)")  # fmt: skip
    print(f"sign-ins: {len(signs)} in {seconds:.1f} s ({len(signs) / seconds:.1f}/s), "
          f"{args.concurrency} at once; each took p50 {statistics.median(signs):.0f} ms, "
          f"p99 {percentile(signs, 0.99):.0f} ms")  # fmt: skip
    if failed:
        raise SystemExit(f"{failed} ingest requests were not answered 201: not valid")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=400.0, help="ingest requests a second")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20, help="sign-ins in a burst")
    parser.add_argument("--rounds", type=int, default=4, help="pairs of quiet and burst phases")
    parser.add_argument("--phase", type=float, default=6.0, help="seconds a phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the phases")
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sign-in-"))
    env = server_env(
        workdir,
        "sign-in",
        TELEMETRY_RATE_LIMIT_DEVICE="none",
        TELEMETRY_RATE_LIMIT_LOGIN_USER="none",
        TELEMETRY_RATE_LIMIT_LOGIN_IP="none",
    )
    tokens = prepare_database(workdir, env, devices=args.devices).read_text().split()
    database = env["TELEMETRY_DATABASE_URL"]
    names = create_users(database, args.concurrency, prefix="signer")
    cookie = create_sessions(database, 1, 1, prefix="watcher")[0]
    with uvicorn_server(["--factory", "app.main:create_app_from_env"], env, "/healthz") as url:
        asyncio.run(measure(url, tokens, names, cookie, args))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
