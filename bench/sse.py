"""Thousands of live viewers: memory per viewer, delivery latency, renders per tick.

Runs the real server and bench/naive_sse_app.py (one queue per viewer, a render per
viewer) one after the other, on loopback, each with one uvicorn worker, and for each:

  1. measures the server's resident memory, opens --viewers event streams, waits until
     every one has its first tile, and measures again: the growth per viewer;
  2. while a driver posts a reading four times a second, --probes of those streams
     time each update from the tick that produced it (the server writes the tick's time
     in a `: tick <ms>` comment before the tick's frames), and every stream counts the
     updates it got: each should get every one;
  3. (real server only) with --devices devices posting 10 readings/s each, reads the
     hub's counters from /metrics: tiles rendered per tick, whatever the viewers.

Usage: python bench/sse.py [--viewers 10000] [--probes 20] [--seconds 20] [--devices 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import re
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import httpx2 as httpx

from bench.ingest import prepare_database, server_env, uvicorn_server

ROOT = Path(__file__).resolve().parent.parent


class Viewer(asyncio.Protocol):
    """One open stream, as the load generator sees it.

    A bare protocol rather than a task per stream: ten thousand of them must cost the
    load generator, which shares the machine with the server, as little as possible.
    """

    def __init__(self, request: bytes, marker: bytes, *, probe: bool = False) -> None:
        self.request = request
        self.marker = marker
        self.probe = probe
        self.updates = 0
        self.latencies: list[float] = []
        self.ready = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream connection's transport; uvloop's is not an asyncio.Transport subclass.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        hits = data.count(self.marker)
        if hits:
            self.updates += hits
            self.ready.set()
            if self.probe:
                received = time.time() * 1000
                self.latencies.extend(received - int(m) for m in TICK.findall(data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


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

    def line(self) -> str:
        return (
            f"{self.name:6s} {self.kib_per_viewer:6.1f} KiB/viewer   probe latency after the "
            f"tick: p50 {self.p50_ms:6.1f} ms, p99 {self.p99_ms:6.1f} ms   "
            f"{self.complete:.1%} of viewers got all {self.ticks} updates"
        )


def rss_kib(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def server_pid(port: int) -> int:
    """The pid of the process listening on `port` (the uvicorn worker)."""
    target = f":{port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[1].endswith(target) and parts[3] == "0A":  # LISTEN
            inodes.add(parts[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
    raise RuntimeError(f"nobody listens on {port}")


TICK = re.compile(rb": tick (\d+)")


def stream_request(path: str) -> bytes:
    """The request line and headers of an event stream."""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n".encode()


async def watch(host: str, port: int, viewers: list[Viewer]) -> None:
    """Open the streams of `viewers`."""
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        *(loop.create_connection(functools.partial(_same, v), host, port) for v in viewers)
    )


def _same(viewer: Viewer) -> Viewer:
    return viewer


async def drive(url: str, headers: dict[str, str], stop: asyncio.Event, devices: int = 1) -> None:
    """Post readings: device 0 four times a second (and the others, when given, 10/s)."""
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
    path: str,
    marker: bytes,
    headers: dict[str, str],
    args: argparse.Namespace,
) -> Result:
    """Open the viewers on one server and measure it (see the module docstring)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    pid = server_pid(port)
    stop = asyncio.Event()
    driver = asyncio.create_task(drive(url, headers, stop))
    await asyncio.sleep(2)
    before = rss_kib(pid)
    request = stream_request(path)
    every = args.viewers // args.probes
    viewers = [Viewer(request, marker, probe=i % every == 0) for i in range(args.viewers)]
    for start in range(0, len(viewers), 500):
        await watch(host, port, viewers[start : start + 500])
        await asyncio.sleep(0.2)
        print(f"  {name}: {min(start + 500, len(viewers))} viewers connected", flush=True)
    try:
        await asyncio.wait_for(asyncio.gather(*(v.ready.wait() for v in viewers)), timeout=120)
    except TimeoutError:
        waiting = [v for v in viewers if not v.ready.is_set()]
        raise RuntimeError(
            f"{name}: {len(waiting)} of {len(viewers)} streams got no update within 120 s "
            f"({sum(v.lost for v in waiting)} of them closed by the server)"
        ) from None
    await asyncio.sleep(3)
    after = rss_kib(pid)
    counts = [v.updates for v in viewers]
    for viewer in viewers:
        viewer.latencies.clear()
    await asyncio.sleep(args.seconds)
    gained = [v.updates - c for v, c in zip(viewers, counts, strict=True)]
    latencies = sorted(x for v in viewers if v.probe for x in v.latencies)
    ticks = max(gained)
    stop.set()
    await driver
    for viewer in viewers:
        viewer.close()
    return Result(
        name=name,
        viewers=len(viewers),
        kib_per_viewer=(after - before) / len(viewers),
        p50_ms=statistics.median(latencies),
        p99_ms=latencies[int(len(latencies) * 0.99)],
        ticks=ticks,
        complete=sum(1 for g in gained if g >= ticks - 1) / len(gained),
    )


async def renders_per_tick(url: str, tokens: list[str], seconds: float) -> float:
    """Tiles rendered per tick while every device of `tokens` posts 10 readings/s."""
    stop = asyncio.Event()

    async def device(token: str) -> None:
        async with httpx.AsyncClient(base_url=url) as client:
            value = 0
            while not stop.is_set():
                value += 1
                await client.post(
                    "/api/v1/measurements",
                    json={"values": {"temperature": 20 + value % 50 / 10}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                await asyncio.sleep(0.1)

    def counters() -> tuple[float, float]:
        text = httpx.get(url + "/metrics").text
        renders = float(re.search(r"telemetry_live_renders_total ([\d.e+]+)", text).group(1))  # type: ignore[union-attr]
        ticks = float(re.search(r"telemetry_live_ticks_total ([\d.e+]+)", text).group(1))  # type: ignore[union-attr]
        return renders, ticks

    drivers = [asyncio.create_task(device(t)) for t in tokens]
    await asyncio.sleep(2)
    renders0, ticks0 = counters()
    await asyncio.sleep(seconds)
    renders1, ticks1 = counters()
    stop.set()
    await asyncio.gather(*drivers)
    return (renders1 - renders0) / (ticks1 - ticks0)


async def run(args: argparse.Namespace, workdir: Path) -> None:
    options = {
        "TELEMETRY_RATE_LIMIT_DEVICE": "none",
        "TELEMETRY_SSE_STREAMS_PER_CLIENT": str(args.viewers * 2),
        "TELEMETRY_SSE_DIRECT_WRITE": args.direct_write,
    }
    results = []
    target = ["--factory", "app.main:create_app_from_env", "--backlog", "8192"]
    # The viewers watch a dashboard of one device, as the naive app shows one tile.
    env = server_env(workdir, "viewers", **options)
    token = prepare_database(workdir, env, devices=1).read_text().split()[0]
    with uvicorn_server(target, env, "/healthz") as url:
        headers = {"Authorization": f"Bearer {token}"}
        results.append(
            await measure("real", url, "/events?topic=overview", b"event: tile-", headers, args)
        )
    print("  " + results[-1].line(), flush=True)  # kept should a later step fail
    # Renders per tick: a fleet, with and without a crowd watching the overview.
    renders: dict[str, float] = {}
    env = server_env(workdir, "fleet", **options)
    fleet = prepare_database(workdir, env, devices=args.devices).read_text().split()
    with uvicorn_server(target, env, "/healthz") as url:
        renders["without"] = await renders_per_tick(url, fleet, args.seconds / 2)
        request = stream_request("/events?topic=overview")
        crowd = [Viewer(request, b"event: ") for _ in range(min(args.viewers, 2000))]
        parts = urlsplit(url)
        for start in range(0, len(crowd), 500):
            await watch(parts.hostname or "", parts.port or 0, crowd[start : start + 500])
        await asyncio.wait_for(asyncio.gather(*(v.ready.wait() for v in crowd)), timeout=60)
        renders["with"] = await renders_per_tick(url, fleet, args.seconds / 2)
        for viewer in crowd:
            viewer.close()
    naive_env = {**env, "PYTHONPATH": str(ROOT)}
    with uvicorn_server(
        ["bench.naive_sse_app:app", "--backlog", "8192"], naive_env, "/healthz"
    ) as url:
        results.append(await measure("naive", url, "/events", b"event: tile-", {}, args))
    print()
    print(
        f"{args.viewers} viewers, {args.probes} probes, {args.seconds:g} s of updates, "
        "one tick a second"
    )
    for r in results:
        print(r.line())
    real, naive = results
    memory = real.kib_per_viewer / naive.kib_per_viewer
    print(
        f"memory per viewer: {memory:.2f} of naive (target <= 20 KB); "
        f"p99: {real.p99_ms / naive.p99_ms:.2f} of naive (target <= 100 ms)"
    )
    print(
        f"tiles rendered per tick, {args.devices} devices posting 10 readings/s each: "
        f"{renders['without']:.1f} with no viewer, {renders['with']:.1f} with "
        f"{min(args.viewers, 2000)} viewers on the overview (target <= {args.devices})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--devices", type=int, default=100)
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
