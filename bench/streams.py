"""Live streams as a load generator sees them, and the server process behind a port.

Shared by bench/sse.py (thousands of viewers) and bench/sign_in.py (one viewer watching
for stalls). A stream is a bare protocol rather than a task: ten thousand of them must
cost the load generator, which shares the machine with the server, as little as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

# The server writes each tick's time (ms since the epoch) before that tick's frames.
TICK = re.compile(rb": tick (\d+)")
SESSION_COOKIE = "telemetry_session"


class Viewer(asyncio.Protocol):
    """One open stream: counts the frames holding `marker`; a probe times the ticks."""

    def __init__(self, request: bytes, marker: bytes, *, probe: bool = False) -> None:
        self.request = request
        self.marker = marker
        self.probe = probe
        self.updates = 0
        self.latencies: list[float] = []  # probes: ms from each tick to its arrival
        self.ticks: list[float] = []  # probes: monotonic arrival time of each tick
        self.ready = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.connected_at = 0.0  # monotonic: TCP connection made, request written
        self.answered_at = 0.0  # monotonic: the first bytes of the answer came
        self.status = b""  # the answer's status line

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream connection's transport; uvloop's is not an asyncio.Transport subclass.
        self.transport = cast(asyncio.Transport, transport)
        self.connected_at = time.monotonic()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.answered_at:
            self.answered_at = time.monotonic()
            self.status = data.split(b"\r\n", 1)[0]
        hits = data.count(self.marker)
        if hits:
            self.updates += hits
            self.ready.set()
        if self.probe:
            stamps = TICK.findall(data)
            if stamps:
                received = time.time() * 1000
                self.latencies.extend(received - int(m) for m in stamps)
                self.ticks.extend(time.monotonic() for _ in stamps)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    @property
    def open_ms(self) -> float:
        """From the request written to the answer's first bytes (headers, snapshot)."""
        return (self.answered_at - self.connected_at) * 1000


def stream_request(path: str, cookie: str | None = None) -> bytes:
    """The request line and headers of an event stream, with a session cookie if given."""
    lines = [f"GET {path} HTTP/1.1", "Host: bench", "Accept: text/event-stream"]
    if cookie is not None:
        lines.append(f"Cookie: {SESSION_COOKIE}={cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def watch(host: str, port: int, viewers: Sequence[Viewer]) -> None:
    """Open the streams of `viewers`."""
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        *(loop.create_connection(functools.partial(_same, v), host, port) for v in viewers)
    )


def _same(viewer: Viewer) -> Viewer:
    return viewer


async def open_all(name: str, url: str, viewers: Sequence[Viewer], wait_s: float = 120) -> None:
    """Open the streams 500 at a time and wait for every first update; fail on refusals."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    for start in range(0, len(viewers), 500):
        await watch(host, port, viewers[start : start + 500])
        await asyncio.sleep(0.2)
        print(f"  {name}: {min(start + 500, len(viewers))} viewers connected", flush=True)
    try:
        await asyncio.wait_for(asyncio.gather(*(v.ready.wait() for v in viewers)), wait_s)
    except TimeoutError:
        waiting = [v for v in viewers if not v.ready.is_set()]
        refused = {v.status for v in waiting if v.status and b" 200 " not in v.status}
        raise RuntimeError(
            f"{name}: {len(waiting)} of {len(viewers)} streams got no update within "
            f"{wait_s:g} s ({sum(v.lost for v in waiting)} of them closed by the server; "
            f"answers other than 200: {sorted(refused) or 'none'})"
        ) from None


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which `share` of sorted `values` lie (nearest rank)."""
    return values[min(len(values) - 1, int(len(values) * share))]


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
