"""A thousand tabs joining at once: presence frames per refresh interval, lists rendered.

On a real server (one uvicorn worker, TELEMETRY_REFRESH_INTERVAL=1,
TELEMETRY_METRICS_PUBLIC=1, a device `bench-0`), one observer stream is open on the
device's page: it gets both lists, everyone watching (`presence`) and who looks at the
page (`watchers`). Then --tabs streams of --users viewers (--tabs/--users each, each
tab with a session cookie and tab id of its own; half of each user's tabs on the
overview, half on the device's page) are opened at once. The observer notes every
`presence` and `watchers` frame with the tick that produced it (the server writes each
tick's time in a `: tick <ms>` comment before its frames) and keeps each list as a
browser does (the whole list first, then the differences: the first LIST_MAX users by
name, each once with their tab count, and the count of all). Reports:

  frames    the most `presence` (and `watchers`) frames of one tick, whole lists and
            differences alike (target: 1 each)
  right     from the last tab's first bytes to the observer holding both lists right
  renders   presence lists rendered (telemetry_live_presence_lists) against the ticks
            of the burst: one per changed list per tick at most, whatever the joins
  leave     the tabs are closed (dropped streams: a 5 s grace, app/live/presence.py);
            the time until both lists show the observer alone

Baseline, side by side in the same run (--pairs alternations): the same burst on a
server with TELEMETRY_PRESENCE_ADMINS_ONLY=1, where everyone is a viewer, so nobody
watches the presence topics and no list is rendered at the tick: what the streams cost
without the lists, and a floor for the counters.

Usage: python bench/presence.py [--tabs 1000] [--users 100] [--pairs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import resource
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx

from app.live.lobby import LIST_MAX
from bench.accounts_seed import create_sessions
from bench.ingest import prepare_database, server_env, uvicorn_server
from bench.streams import Viewer, open_all, stream_request

DEVICE = "bench-0"
LISTS = re.compile(r"telemetry_live_presence_lists_total ([\d.e+]+)")
TICKS = re.compile(r"telemetry_live_ticks_total ([\d.e+]+)")

# The users a list names (display name -> tabs: the first LIST_MAX by name), and how
# many it counts in all.
Entries = tuple[dict[str, int], int]


def capped(users: dict[str, int]) -> Entries:
    """What a list of `users` shows: the first LIST_MAX by name, and the count of all."""
    named = sorted(users, key=str.casefold)[:LIST_MAX]
    return {name: users[name] for name in named}, len(users)


def apply(event: str, data: str, before: dict[int, tuple[str, int]]) -> dict[int, tuple[str, int]]:
    """A list after its frame: whole (`presence`, `watchers`) or a difference (`-diff`)."""
    value = json.loads(data)
    if not event.endswith("-diff"):
        return {row[0]: (row[1], row[2]) for row in value["users"]}
    rows = dict(before)
    rows.update({row[0]: (row[1], row[2]) for row in value["set"]})
    for gone in value["gone"]:
        rows.pop(gone, None)
    return rows


@dataclass
class Frame:
    """A list as the observer got it."""

    event: str  # presence | watchers
    tick: int | None  # the tick that sent it (None: the stream's snapshot)
    at: float  # monotonic arrival
    entries: Entries


class Observer(Viewer):
    """A stream that parses its events and keeps every presence and watchers frame."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request, b"event: ")
        self.frames: list[Frame] = []
        self._rows: dict[str, dict[int, tuple[str, int]]] = {"presence": {}, "watchers": {}}
        self._totals: dict[str, int] = {"presence": 0, "watchers": 0}
        self._buffer = b""
        self._tick: int | None = None
        self._headers_done = False

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        super().data_received(data)
        self._buffer += data
        if not self._headers_done:
            if b"\r\n\r\n" not in self._buffer:
                return
            self._buffer = self._buffer.split(b"\r\n\r\n", 1)[1]
            self._headers_done = True
        # Chunked encoding: drop the chunk-size lines, which stand alone between frames.
        *blocks, self._buffer = self._buffer.split(b"\n\n")
        for block in blocks:
            self._block(block.decode(), now)

    def _block(self, block: str, now: float) -> None:
        event, data = "", []
        for line in block.split("\n"):
            line = line.rstrip("\r")
            if line.startswith(": tick "):
                self._tick = int(line[7:])
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line.startswith("data:"):
                data.append(line[5:])
        if event.removesuffix("-diff") in ("presence", "watchers"):
            name = event.removesuffix("-diff")
            text = "\n".join(data)
            rows = self._rows[name] = apply(event, text, self._rows[name])
            self._totals[name] = json.loads(text)["total"]
            entries = ({display: tabs for display, tabs in rows.values()}, self._totals[name])
            self.frames.append(Frame(name, self._tick, now, entries))

    def latest(self, event: str) -> Entries | None:
        """The list as it stands now."""
        for frame in reversed(self.frames):
            if frame.event == event:
                return frame.entries
        return None

    async def until(self, expected: dict[str, Entries], wait_s: float) -> float | None:
        """Wait until both lists are `expected`; the monotonic arrival of the last one."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if all(self.latest(e) == want for e, want in expected.items()):
                return max(f.at for f in self.frames)
            await asyncio.sleep(0.02)
        return None


@dataclass
class Burst:
    """What one server did with the burst."""

    name: str
    join_s: float  # the first connect to the last tab's first bytes
    frames_per_tick: dict[str, int]  # the most frames of one list in one tick
    ticks_with_frames: int
    right_s: float | None  # the last tab's first bytes to both lists right
    leave_s: float | None  # the tabs closed to both lists showing the observer alone
    lists: float  # lists rendered over the burst (join and leave)
    ticks: float  # ticks over the burst
    frames: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        def s(value: float | None) -> str:
            return "never" if value is None else f"{value:.2f} s"

        lists = (
            f"lists right {s(self.right_s)} after the last join; back to the observer alone "
            f"{s(self.leave_s)} after the close; "
            if self.name != "hidden"
            else ""  # nobody watches the lists there: nothing to be right
        )
        return (
            f"{self.name:9s} joined in {self.join_s:.2f} s; frames per tick (max): "
            f"presence {self.frames_per_tick.get('presence', 0)}, watchers "
            f"{self.frames_per_tick.get('watchers', 0)} ({self.frames['presence']} + "
            f"{self.frames['watchers']} frames in {self.ticks_with_frames} ticks); {lists}"
            f"{self.lists:g} lists rendered in "
            f"{self.ticks:g} ticks"
        )


async def sleep(seconds: float) -> float | None:
    """asyncio.sleep, standing for a wait that found nothing (None)."""
    await asyncio.sleep(seconds)
    return None


async def counters(url: str) -> tuple[float, float]:
    """telemetry_live_presence_lists and telemetry_live_ticks."""
    async with httpx.AsyncClient(base_url=url) as client:
        text = (await client.get("/metrics")).text
    lists, ticks = LISTS.search(text), TICKS.search(text)
    assert lists is not None, "no telemetry_live_presence_lists_total in /metrics"
    assert ticks is not None, "no telemetry_live_ticks_total in /metrics"
    return float(lists.group(1)), float(ticks.group(1))


async def burst(name: str, workdir: Path, args: argparse.Namespace) -> Burst:
    """One server, the observer, the burst of joins, and the leave."""
    hidden = name == "hidden"
    env = server_env(
        workdir,
        name,
        TELEMETRY_REFRESH_INTERVAL="1",
        TELEMETRY_METRICS_PUBLIC="1",
        TELEMETRY_PRESENCE_ADMINS_ONLY="1" if hidden else "0",
        TELEMETRY_SSE_STREAMS_PER_CLIENT=str(args.tabs * 2),
    )
    prepare_database(workdir, env, devices=1)
    per_user = args.tabs // args.users
    database = env["TELEMETRY_DATABASE_URL"]
    cookies = create_sessions(database, args.users, per_user)
    observer_cookie = create_sessions(database, 1, 1, prefix="observer")[0]
    device_page = f"/events?device={DEVICE}"
    tabs: list[Viewer] = []
    for i, cookie in enumerate(cookies):
        page = "/events?topic=overview" if i % 2 == 0 else device_page
        tabs.append(Viewer(stream_request(f"{page}&tab=t{i}", cookie), b"event: "))
    # Each user: per_user tabs, half (rounded up) on the overview, the rest on the device.
    everyone = {"observer0": 1} | {f"viewer{u}": per_user for u in range(args.users)}
    on_device = {"observer0": 1} | {f"viewer{u}": per_user // 2 for u in range(args.users)}
    alone = {"observer0": 1}
    expected = {} if hidden else {"presence": capped(everyone), "watchers": capped(on_device)}
    target = ["--factory", "app.main:create_app_from_env", "--backlog", "8192"]
    with uvicorn_server(target, env, "/healthz") as url:
        observer = Observer(stream_request(f"{device_page}&tab=observer", observer_cookie))
        await open_all("observer", url, [observer], wait_s=30)
        await asyncio.sleep(1.5)
        lists0, ticks0 = await counters(url)
        began = time.monotonic()
        await open_all(name, url, tabs, wait_s=120)
        last_join = max(t.answered_at for t in tabs)
        join_s = last_join - began
        # Hidden, there is nothing to wait for: as long as the lists take, shown.
        right = await observer.until(expected, 30) if expected else await sleep(2)
        await asyncio.sleep(2)
        closed = time.monotonic()
        for tab in tabs:
            tab.close()
        lone = {"presence": capped(alone), "watchers": capped(alone)}
        gone = await observer.until(lone, 30) if expected else await sleep(7)
        await asyncio.sleep(1.5)
        lists1, ticks1 = await counters(url)
        observer.close()
        await asyncio.sleep(0.5)
    per_tick: Counter[tuple[str, int]] = Counter(
        (f.event, f.tick) for f in observer.frames if f.tick is not None
    )
    most: dict[str, int] = {}
    for (event, _tick), count in per_tick.items():
        most[event] = max(most.get(event, 0), count)
    return Burst(
        name=name,
        join_s=join_s,
        frames_per_tick=most,
        ticks_with_frames=len({tick for _event, tick in per_tick}),
        right_s=None if right is None else right - last_join,
        leave_s=None if gone is None else gone - closed,
        lists=lists1 - lists0,
        ticks=ticks1 - ticks0,
        frames=Counter(f.event for f in observer.frames if f.tick is not None),
    )


async def run(args: argparse.Namespace, workdir: Path) -> None:
    results: list[Burst] = []
    for pair in range(args.pairs):
        order = ["presence", "hidden"] if pair % 2 == 0 else ["hidden", "presence"]
        for name in order:
            result = await burst(name, workdir, args)
            print("  " + result.line(), flush=True)
            results.append(result)
    print()
    per_user = args.tabs // args.users
    print(
        f"{args.users * per_user} tabs ({args.users} users x {per_user}, half on the overview, "
        f"half on {DEVICE}'s page) joining at once, one observer on {DEVICE}'s page, "
        "refresh interval 1 s"
    )
    for r in results:
        print(r.line())
    shown = [r for r in results if r.name == "presence"]
    hidden = [r for r in results if r.name == "hidden"]
    most = max(max(r.frames_per_tick.values(), default=0) for r in shown)
    right = [r.right_s for r in shown]
    print(f"presence: at most {most} frame per list per tick (target <= 1); lists right "
          f"after the last join: {', '.join(f'{x:.2f}' for x in right if x is not None)} s, "
          f"{sum(x is None for x in right)} runs never")  # fmt: skip
    per_tick = statistics.median(r.lists / r.ticks for r in shown)
    print(
        f"lists rendered per tick: {per_tick:.2f} with presence shown (3 lists: everyone, "
        f"the overview's, the device's), "
        f"{statistics.median(r.lists / r.ticks for r in hidden):.2f} with nobody watching "
        f"them; a render per join would have been {2 * args.users * per_user} for the joins "
        "and as many for the leaves"
    )
    join = statistics.median(r.join_s for r in shown) / statistics.median(r.join_s for r in hidden)
    print(f"joining, presence shown / hidden: {join:.2f}")
    failed = [r for r in shown if r.right_s is None or r.leave_s is None or most > 1]
    if failed:
        sys.exit("the lists were not right, or a tick sent a list twice: see above")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tabs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=1, help="presence and hidden runs")
    parser.add_argument("--workdir", default="/tmp/bench-presence")
    args = parser.parse_args()
    if args.tabs % args.users or (args.tabs // args.users) % 2:
        sys.exit("--tabs must be --users times an even number (half of each user's tabs "
                 "on the overview, half on the device)")  # fmt: skip
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.tabs + 100 > hard:
        sys.exit(f"the open-file limit ({hard}) is too low for {args.tabs} tabs")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args, workdir))


if __name__ == "__main__":
    main()
