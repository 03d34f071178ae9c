"""Notifications to thousands of open tabs: delivery latency, badges rendered, memory.

Seeds --users viewers with --tabs sessions each and an admin with a personal token
(bench/accounts_seed.py), copies that database for a second server, and runs two real
servers side by side, one uvicorn worker each, TELEMETRY_METRICS_PUBLIC=1:

  crowd  every viewer's --tabs streams on `/events?page=other`, each with its own
         session cookie (the worst case: no tab shares a stream); the server's memory
         is measured before and after they open: growth per viewer (tab);
  alone  the same database, only one user's --tabs streams open.

Then --sends rounds, each (in alternating order) of:

  a  everyone    POST /api/v1/notifications to everyone, on the crowd;
  b  one user    the same to the one user, on the crowd;
  c  baseline    the same to the one user, on the server where only they watch.

For each send, t0 is taken just before the POST; every tab of every recipient notes
when the chunk holding the notification's toast (`id="toast-N"`) arrived, and the one
holding its new badge (`data-unread="K"`, K the count it must show now); a tab's
latency is the later of the two. /metrics is read before and after each send: the
badges rendered (telemetry_live_badges) must grow by one per recipient, whatever their
tabs. b / c near 1 says a notification to one user costs work proportional to that
user's tabs, not to the viewers connected.

Every stream carries the presence list (everyone watching) unless
--presence-admins-only (TELEMETRY_PRESENCE_ADMINS_ONLY=1: tabs still counted, no list
on viewers' streams). Should the server drop streams for falling behind while the
crowd opens (telemetry_live_viewers_dropped), the run stops there, saying so.

Usage: python bench/notifications.py [--users 1000] [--tabs 10] [--sends 5]
                                     [--presence-admins-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx

from bench.accounts_seed import create_admin_token, create_sessions
from bench.ingest import prepare_database, server_env, uvicorn_server
from bench.streams import Viewer, open_all, percentile, rss_kib, server_pid, stream_request

TOAST = re.compile(rb'id="toast-(\d+)"')
UNREAD = re.compile(rb'data-unread="(\d+)"')
BADGES = re.compile(r"telemetry_live_badges_total ([\d.e+]+)")
DROPPED = re.compile(r"telemetry_live_viewers_dropped_total ([\d.e+]+)")
PAGE = "/events?page=other"


class Tab(Viewer):
    """One tab's stream: when each toast (by id) and each unread count first arrived."""

    def __init__(self, request: bytes) -> None:
        super().__init__(request, b"event: unread")  # a signed-in stream's snapshot has one
        self.toasts: dict[int, float] = {}
        self.counts: dict[int, float] = {}
        self.received = 0  # bytes, headers and all
        self._tail = b""

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        super().data_received(data)
        self.received += len(data)
        text = self._tail + data  # a marker may straddle two reads
        for match in TOAST.finditer(text):
            self.toasts.setdefault(int(match.group(1)), now)
        for match in UNREAD.finditer(text):
            self.counts.setdefault(int(match.group(1)), now)
        self._tail = text[-64:]


@dataclass
class Server:
    """A running server, its streams, and what each user's badge must show."""

    name: str
    url: str
    tabs: dict[str, list[Tab]]  # user name -> their tabs
    unread: dict[str, int] = field(default_factory=dict)


@dataclass
class Send:
    """One notification's delivery."""

    phase: str
    latencies: list[float]  # ms, one per tab: the later of toast and badge
    missing: int  # tabs that got no toast or no badge within the wait
    badges: float  # telemetry_live_badges grown by
    recipients: int
    post_ms: float  # the POST's answer, from t0

    def line(self) -> str:
        lat = sorted(self.latencies) or [float("nan")]
        return (
            f"{self.phase:9s} {len(self.latencies):6d} tabs  p50 {statistics.median(lat):7.1f} "
            f"p99 {percentile(lat, 0.99):7.1f} max {lat[-1]:7.1f} ms  POST {self.post_ms:6.1f} ms"
            f"  badges +{self.badges:g} for {self.recipients} users  missing {self.missing}"
        )


async def badges(client: httpx.AsyncClient) -> float:
    """The server's telemetry_live_badges counter."""
    match = BADGES.search((await client.get("/metrics")).text)
    assert match is not None, "no telemetry_live_badges_total in /metrics"
    return float(match.group(1))


async def send(
    server: Server, phase: str, users: Sequence[str] | None, token: str, wait_s: float = 15
) -> Send:
    """POST one notification and wait until every recipient's tab has it (or `wait_s`)."""
    recipients = list(server.tabs) if users is None else list(users)
    for user in recipients:
        server.unread[user] = server.unread.get(user, 0) + 1
    body: dict[str, object] = {"title": f"bench {phase}", "message": "hello", "level": "info"}
    if users is not None:
        body["users"] = list(users)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        before = await badges(client)
        t0 = time.monotonic()
        answer = await client.post(
            "/api/v1/notifications", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        post_ms = (time.monotonic() - t0) * 1000
        if answer.status_code != 201:
            raise RuntimeError(f"POST /api/v1/notifications: {answer.status_code} {answer.text}")
        notification = int(answer.json()["id"])
        expected = [(tab, server.unread[u]) for u in recipients for tab in server.tabs[u]]
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if all(notification in t.toasts and n in t.counts for t, n in expected):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the counter is bumped as the frames are queued: long done
        after = await badges(client)
    done = [(t, n) for t, n in expected if notification in t.toasts and n in t.counts]
    latencies = [(max(t.toasts[notification], t.counts[n]) - t0) * 1000 for t, n in done]
    return Send(
        phase, latencies, len(expected) - len(done), after - before, len(recipients), post_ms
    )


async def streams_dropped(url: str) -> float:
    """The server's telemetry_live_viewers_dropped counter."""
    async with httpx.AsyncClient(base_url=url) as client:
        match = DROPPED.search((await client.get("/metrics")).text)
    assert match is not None, "no telemetry_live_viewers_dropped_total in /metrics"
    return float(match.group(1))


def copy_database(source: str, target: str) -> None:
    """A consistent copy of a SQLite database (the second server's: the same seed)."""
    for suffix in ("", "-wal", "-shm"):
        Path(target + suffix).unlink(missing_ok=True)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def users_tabs(names: Sequence[str], cookies: Sequence[str], per_user: int) -> dict[str, list[Tab]]:
    """Each user's tabs, each with a session cookie of its own."""
    return {
        name: [Tab(stream_request(PAGE, c)) for c in cookies[i * per_user : (i + 1) * per_user]]
        for i, name in enumerate(names)
    }


def summary(name: str, sends: Sequence[Send]) -> tuple[float, float, float]:
    """p50, p99, max over every tab of every send of a phase."""
    lat = sorted(x for s in sends for x in s.latencies)
    print(
        f"{name}: {len(lat)} tab deliveries over {len(sends)} sends: p50 "
        f"{statistics.median(lat):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms, max "
        f"{lat[-1]:.1f} ms; missing {sum(s.missing for s in sends)}; badges per send "
        f"{sorted({s.badges for s in sends})} for {sends[0].recipients} users"
    )
    return statistics.median(lat), percentile(lat, 0.99), lat[-1]


async def run(args: argparse.Namespace, workdir: Path) -> None:
    options = {
        "TELEMETRY_METRICS_PUBLIC": "1",
        "TELEMETRY_SSE_STREAMS_PER_CLIENT": str(args.users * args.tabs * 2),
        "TELEMETRY_PUBLIC_DASHBOARD": "0",
        "TELEMETRY_PRESENCE_ADMINS_ONLY": "1" if args.presence_admins_only else "0",
    }
    crowd_env = server_env(workdir, "crowd", **options)
    alone_env = server_env(workdir, "alone", **options)
    prepare_database(workdir, crowd_env, devices=1)
    began = time.monotonic()
    database = crowd_env["TELEMETRY_DATABASE_URL"]
    cookies = create_sessions(database, args.users, args.tabs)
    token = create_admin_token(database)
    names = [f"viewer{i}" for i in range(args.users)]
    print(f"  {args.users} users x {args.tabs} sessions in {time.monotonic() - began:.1f} s")
    copy_database(database.removeprefix("sqlite:///"), str(workdir / "alone.db"))
    index = len(names) // 2
    one = names[index]
    one_cookies = cookies[index * args.tabs : (index + 1) * args.tabs]
    target = [
        "--factory", args.factory, "--backlog", "8192",
    ]  # fmt: skip
    with (
        uvicorn_server(target, crowd_env, "/healthz") as crowd_url,
        uvicorn_server(target, alone_env, "/healthz") as alone_url,
    ):
        crowd = Server("crowd", crowd_url, users_tabs(names, cookies, args.tabs))
        alone = Server("alone", alone_url, users_tabs([one], one_cookies, args.tabs))
        pid = server_pid(urlsplit(crowd_url).port or 80)
        await asyncio.sleep(1)
        rss_before = rss_kib(pid)
        crowd_tabs = [t for tabs in crowd.tabs.values() for t in tabs]
        opened = time.monotonic()
        await open_all("crowd", crowd_url, crowd_tabs, wait_s=300)
        open_s = time.monotonic() - opened
        await asyncio.sleep(3)
        kib = (rss_kib(pid) - rss_before) / len(crowd_tabs)
        print(f"  {len(crowd_tabs)} streams open in {open_s:.1f} s; {kib:.1f} KiB per viewer")
        dropped = await streams_dropped(crowd_url)
        received = statistics.median(t.received for t in crowd_tabs) / 1024
        print(f"  while opening, each tab received {received:.1f} KiB (median); the server "
              f"dropped {dropped:g} streams for falling behind")  # fmt: skip
        if dropped:
            sys.exit(
                f"{dropped:g} of {len(crowd_tabs)} streams were dropped by the server while "
                "the others opened: no delivery can be measured (see docs/benchmarks.md)"
            )
        await open_all("alone", alone_url, alone.tabs[one], wait_s=60)
        for server in (crowd, alone):  # untimed: the first send compiles the toast's template
            await send(server, "warm-up", [one], token)
        await asyncio.sleep(1)
        results: dict[str, list[Send]] = {"everyone": [], "one user": [], "baseline": []}
        try:
            for i in range(args.sends):
                order = ["everyone", "one user", "baseline"]
                for phase in order if i % 2 == 0 else reversed(order):
                    if phase == "everyone":
                        result = await send(crowd, phase, None, token)
                    elif phase == "one user":
                        result = await send(crowd, phase, [one], token)
                    else:
                        result = await send(alone, phase, [one], token)
                    results[phase].append(result)
                    print(f"  round {i + 1} {result.line()}", flush=True)
                    await asyncio.sleep(0.5)
        finally:
            for tab in crowd_tabs + alone.tabs[one]:
                tab.close()
            await asyncio.sleep(2)  # the servers see them go before they are stopped
    print()
    print(
        f"{args.users} users x {args.tabs} tabs = {len(crowd_tabs)} streams on {PAGE}, "
        f"each its own session; {args.sends} sends per phase, alternating"
    )
    print(f"memory: {kib:.1f} KiB = {kib * 1.024:.1f} KB per viewer (target <= 20 KB); "
          f"all streams open in {open_s:.1f} s")  # fmt: skip
    _, everyone_p99, _ = summary("a everyone", results["everyone"])
    one_p50, one_p99, _ = summary("b one user among all", results["one user"])
    base_p50, base_p99, _ = summary("c one user alone (baseline)", results["baseline"])
    everyone_badges = all(s.badges == args.users for s in results["everyone"])
    missing = sum(s.missing for rs in results.values() for s in rs)
    print(f"a: p99 {everyone_p99:.1f} ms (target <= 250 ms); badges +{args.users} per send "
          f"(once per user, not per tab): {'yes' if everyone_badges else 'NO'}")  # fmt: skip
    print(f"b / c: p50 {one_p50 / base_p50:.2f}, p99 {one_p99 / base_p99:.2f} (near 1: "
          "work proportional to the user's tabs)")  # fmt: skip
    print(f"a / c: p99 {everyone_p99 / base_p99:.2f}")
    if missing:
        sys.exit(f"{missing} tab deliveries did not arrive: the figures above are not valid")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--tabs", type=int, default=10, help="tabs (streams) per user")
    parser.add_argument("--sends", type=int, default=5, help="sends per phase")
    parser.add_argument(
        "--presence-admins-only",
        action="store_true",
        help="TELEMETRY_PRESENCE_ADMINS_ONLY=1: tabs still counted, no list on viewers' streams",
    )
    parser.add_argument("--workdir", default="/tmp/bench-notifications")
    parser.add_argument(
        "--factory", default="app.main:create_app_from_env", help="the servers' app factory"
    )
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.users * args.tabs + 200 > hard:
        sys.exit(f"the open-file limit ({hard}) is too low for {args.users * args.tabs} tabs")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args, workdir))


if __name__ == "__main__":
    main()
