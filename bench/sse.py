"""Thousands of live viewers, signed in: memory per viewer, delivery latency, renders per tick.

Runs, one after the other on loopback, each with one uvicorn worker:

  signed-in  the real server; every viewer sends a session cookie of its own (--users
             users with --viewers/--users sessions each, created in bulk beforehand),
             so opening each stream looks the session up in the database;
  public     the real server with TELEMETRY_PUBLIC_DASHBOARD=1, viewers without a
             cookie: the same streams without the lookup, side by side (--pairs);
  naive      bench/naive_sse_app.py (one queue per viewer, a render per viewer).

For each:

  1. measures the server's resident memory, opens --viewers event streams (500 at a
     time), waits until every one has its first tile, and measures again: the growth
     per viewer; and how long the streams took to open (request to first bytes);
  2. while a driver posts a reading four times a second, --probes of those streams
     time each update from the tick that produced it (the server writes the tick's time
     in a `: tick <ms>` comment before the tick's frames), and every stream counts the
     updates it got: each should get every one;
  3. (once) with --devices devices posting 10 readings/s each, reads the hub's
     counters from /metrics: tiles rendered per tick, with no viewer and with 2,000
     signed-in viewers on the overview.

--seen MINUTES dates the sessions' last use back: over a minute, each lookup also
writes the session's last-seen time, as when every browser reconnects after a restart.

Usage: python bench/sse.py [--viewers 10000] [--users 100] [--pairs 1] [--seconds 20]
                           [--seen 0] [--no-public] [--no-naive]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx

from bench.accounts_seed import create_sessions
from bench.ingest import prepare_database, server_env, uvicorn_server
from bench.sse_fleet import OVERVIEW, fleet_renders
from bench.streams import Viewer, open_all, percentile, rss_kib, server_pid, stream_request

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """What one server did."""

    name: str
    viewers: int
    kib_per_viewer: float
    p50_ms: float
    p99_ms: float
    ticks: int
    complete: float  # share of viewers that got every update of the window
    open_p50_ms: float  # one stream: request written to the answer's first bytes
    open_p99_ms: float
    open_s: float  # all streams: the first connect to the last first tile

    def line(self) -> str:
        return (
            f"{self.name:9s} {self.kib_per_viewer:5.1f} KiB/viewer   after the tick: "
            f"p50 {self.p50_ms:6.1f} ms, p99 {self.p99_ms:6.1f} ms   "
            f"{self.complete:.1%} got all {self.ticks} updates   opening a stream: "
            f"p50 {self.open_p50_ms:6.1f} ms, p99 {self.open_p99_ms:6.1f} ms, "
            f"all in {self.open_s:4.1f} s"
        )


async def drive(url: str, headers: dict[str, str], stop: asyncio.Event) -> None:
    """Post a reading for device 0 four times a second."""
    async with httpx.AsyncClient(base_url=url) as client:
        value = 0
        while not stop.is_set():
            value += 1
            await client.post(
                "/api/v1/measurements",
                json={"values": {"temperature": 20 + value % 100 / 10}},
                headers=headers,
            )
            await asyncio.sleep(0.25)


async def measure(
    name: str,
    url: str,
    headers: dict[str, str],
    cookies: list[str] | None,
    args: argparse.Namespace,
) -> Result:
    """Open the viewers on one server and measure it (see the module docstring)."""
    pid = server_pid(urlsplit(url).port or 80)
    stop = asyncio.Event()
    driver = asyncio.create_task(drive(url, headers, stop))
    await asyncio.sleep(2)
    before = rss_kib(pid)
    path = OVERVIEW if name != "naive" else "/events"
    every = args.viewers // args.probes
    viewers = [
        Viewer(stream_request(path, cookies[i] if cookies else None), b"event: tile-")
        for i in range(args.viewers)
    ]
    for viewer in viewers[::every]:
        viewer.probe = True
    began = time.monotonic()
    try:
        await open_all(name, url, viewers)
        open_s = time.monotonic() - began
        await asyncio.sleep(3)
        after = rss_kib(pid)
        counts = [v.updates for v in viewers]
        for viewer in viewers:
            viewer.latencies.clear()
        await asyncio.sleep(args.seconds)
    finally:
        stop.set()
        await driver
        for viewer in viewers:
            viewer.close()
        await asyncio.sleep(1)  # the server sees them go before it is stopped
    gained = [v.updates - c for v, c in zip(viewers, counts, strict=True)]
    latencies = sorted(x for v in viewers if v.probe for x in v.latencies)
    opening = sorted(v.open_ms for v in viewers)
    ticks = max(gained)
    return Result(
        name=name,
        viewers=len(viewers),
        kib_per_viewer=(after - before) / len(viewers),
        p50_ms=statistics.median(latencies),
        p99_ms=percentile(latencies, 0.99),
        ticks=ticks,
        complete=sum(1 for g in gained if g >= ticks - 1) / len(gained),
        open_p50_ms=statistics.median(opening),
        open_p99_ms=percentile(opening, 0.99),
        open_s=open_s,
    )


async def real_server(
    name: str, workdir: Path, options: dict[str, str], args: argparse.Namespace
) -> Result:
    """One run of the real server: signed-in viewers, or public ones without a cookie."""
    public = name == "public"
    env = server_env(workdir, name, TELEMETRY_PUBLIC_DASHBOARD="1" if public else "0", **options)
    # The viewers watch a dashboard of one device, as the naive app shows one tile.
    token = prepare_database(workdir, env, devices=1).read_text().split()[0]
    cookies = None
    if not public:
        began = time.monotonic()
        per_user = -(-args.viewers // args.users)
        database = env["TELEMETRY_DATABASE_URL"]
        cookies = create_sessions(database, args.users, per_user, seen_minutes_ago=args.seen)
        print(f"  {args.users} users x {per_user} sessions in {time.monotonic() - began:.1f} s")
    target = ["--factory", "app.main:create_app_from_env", "--backlog", "8192"]
    with uvicorn_server(target, env, "/healthz") as url:
        result = await measure(name, url, {"Authorization": f"Bearer {token}"}, cookies, args)
    print("  " + result.line(), flush=True)  # kept should a later step fail
    return result


async def run(args: argparse.Namespace, workdir: Path) -> None:
    options = {
        "TELEMETRY_RATE_LIMIT_DEVICE": "none",
        "TELEMETRY_SSE_STREAMS_PER_CLIENT": str(args.viewers * 2),
        "TELEMETRY_SSE_DIRECT_WRITE": args.direct_write,
    }
    results: list[Result] = []
    for pair in range(args.pairs):
        order = ["signed-in", "public"] if pair % 2 == 0 else ["public", "signed-in"]
        names = order if args.public else ["signed-in"]
        results.extend([await real_server(name, workdir, options, args) for name in names])
    renders = await fleet_renders(workdir, options, args)
    print("  " + renders, flush=True)
    naive: Result | None = None
    if args.naive:
        env = server_env(workdir, "naive", **options)
        target = ["bench.naive_sse_app:app", "--backlog", "8192"]
        with uvicorn_server(target, env, "/healthz") as url:
            try:
                naive = await measure("naive", url, {}, None, args)
                results.append(naive)
            except RuntimeError as exc:  # the baseline may not open them all: say so
                print(f"  naive baseline not measured: {exc}", flush=True)
    print()
    print(
        f"{args.viewers} viewers ({args.users} users x {-(-args.viewers // args.users)} "
        f"sessions, last seen {args.seen:g} min before), {args.probes} probes, "
        f"{args.seconds:g} s of updates, one tick a second"
    )
    for r in results:
        print(r.line())
    signed = [r for r in results if r.name == "signed-in"]
    public = [r for r in results if r.name == "public"]
    kib = statistics.median(r.kib_per_viewer for r in signed)
    p99 = statistics.median(r.p99_ms for r in signed)
    print(f"signed-in: {kib:.1f} KiB = {kib * 1.024:.1f} KB per viewer (target <= 20 KB), "
          f"p99 {p99:.1f} ms after the tick (target <= 100 ms)")  # fmt: skip
    if public:
        print(
            "signed-in / public: memory "
            f"{kib / statistics.median(r.kib_per_viewer for r in public):.2f}, p99 "
            f"{p99 / statistics.median(r.p99_ms for r in public):.2f}, opening p99 "
            f"{statistics.median(r.open_p99_ms for r in signed):.1f} against "
            f"{statistics.median(r.open_p99_ms for r in public):.1f} ms"
        )
    if naive is not None:
        print(f"signed-in / naive: memory {kib / naive.kib_per_viewer:.2f}, "
              f"p99 {p99 / naive.p99_ms:.2f}")  # fmt: skip
    print(renders)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100, help="the viewers' users")
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=1, help="signed-in and public runs")
    parser.add_argument(
        "--seen",
        type=float,
        default=0.0,
        help="minutes since the sessions were last seen (over 1: each lookup also writes)",
    )
    parser.add_argument("--no-public", dest="public", action="store_false")
    parser.add_argument("--no-naive", dest="naive", action="store_false")
    parser.add_argument("--workdir", default="/tmp/bench-sse")
    parser.add_argument(
        "--direct-write",
        choices=("1", "0"),
        default="1",
        help="TELEMETRY_SSE_DIRECT_WRITE of the real server (0: streams through `send`)",
    )
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.viewers + 100 > hard:
        sys.exit(f"the open-file limit ({hard}) is too low for {args.viewers} viewers")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args, workdir))


if __name__ == "__main__":
    main()
