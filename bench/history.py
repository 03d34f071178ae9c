"""A month of history: series query time and how soon the device page is usable.

Seeds a fresh SQLite database with 30 days of one device's temperature every 2 s (about
1.3 million raw rows; two outages left as gaps) through the real write path, so the
rollups are the ones ingest keeps. Then, against a real server on loopback:

  1. times `GET /api/v1/devices/bench-0/series?max_points=1000` for 1 hour, 24 hours,
     7 days and 30 days, alternating with the baseline: the same 1000 buckets computed
     from the raw rows by one GROUP BY (what a history without rollups does), and with
     `GET /healthz` (the floor of any request);
  2. with Chromium (Debian's package), opens the device page for 24 hours, 7 days and
     30 days and times navigation start → every chart drawn with its data.

Usage: python bench/history.py [--days 30] [--every 2] [--repeats 30]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx

from bench.ingest import prepare_database, server_env, uvicorn_server

ROOT = Path(__file__).resolve().parent.parent
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def seed(database_url: str, days: int, every: int, now: datetime) -> int:
    """Store `days` of readings every `every` seconds for bench-0; returns the row count."""
    from app.config import Settings
    from app.db import create_db_engine
    from app.telemetry.devices import DeviceRef
    from app.telemetry.readings import Reading
    from app.telemetry.writing.group import WriteRequest
    from app.telemetry.writing.transaction import GroupTransaction

    engine = create_db_engine(Settings(database_url=database_url))
    with engine.connect() as conn:
        (device_id,) = conn.exec_driver_sql("SELECT id FROM devices WHERE name = 'bench-0'").one()
    device = DeviceRef(device_id, "bench-0")
    store = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    start = now - timedelta(days=days)
    # Two outages: six hours ten days ago, twenty minutes yesterday.
    outages = [
        (now - timedelta(days=10), now - timedelta(days=10) + timedelta(hours=6)),
        (now - timedelta(days=1), now - timedelta(days=1) + timedelta(minutes=20)),
    ]
    total = days * 86400 // every
    stored = 0
    chunk: list[Reading] = []
    began = time.perf_counter()
    for i in range(total):
        at = start + timedelta(seconds=i * every)
        if any(a <= at < b for a, b in outages):
            continue
        hour = (at.hour + at.minute / 60) / 24
        chunk.append(Reading(at, {"temperature": round(18 + 6 * abs(hour - 0.5) * 2, 2)}))
        if len(chunk) == 5000:
            store.write([WriteRequest(device, chunk, received_at=now)])
            stored += len(chunk)
            chunk = []
            if stored % 100_000 == 0:
                rate = stored / (time.perf_counter() - began)
                print(f"  seeded {stored:,} of ~{total:,} readings ({rate:,.0f}/s)", flush=True)
    if chunk:
        store.write([WriteRequest(device, chunk, received_at=now)])
        stored += len(chunk)
    store.flush_rollups()
    store.close()
    engine.dispose()
    return stored


def raw_scan(path: Path, start: datetime, end: datetime, points: int) -> Callable[[], int]:
    """The baseline: the same buckets computed from the raw rows by one GROUP BY."""
    width = (end - start).total_seconds() / points
    conn = sqlite3.connect(path)
    (series_id,) = conn.execute("SELECT id FROM series WHERE quantity = 'temperature'").fetchone()
    (sample,) = conn.execute("SELECT measured_at FROM measurements LIMIT 1").fetchone()
    # Match however the store encodes times (epoch microseconds, or ISO text).
    to_db: Callable[[datetime], Any] = (
        (lambda t: round(t.timestamp() * 1_000_000))
        if isinstance(sample, int)
        else (lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f"))
    )
    epoch = "measured_at / 1e6" if isinstance(sample, int) else "unixepoch(measured_at)"
    sql = (
        f"SELECT CAST(({epoch} - :t0) / :w AS INTEGER) AS b, min(value), max(value), "
        "avg(value), count(*) FROM measurements "
        "WHERE series_id = :s AND measured_at >= :a AND measured_at < :z GROUP BY b"
    )
    params = {
        "t0": start.timestamp(),
        "w": width,
        "s": series_id,
        "a": to_db(start),
        "z": to_db(end),
    }

    def query() -> int:
        buckets = conn.execute(sql, params).fetchall()
        assert buckets, "the baseline found no readings"
        return len(buckets)

    return query


@dataclass
class Timing:
    name: str
    samples: list[float]

    def line(self) -> str:
        s = sorted(self.samples)
        p95 = s[min(len(s) - 1, int(len(s) * 0.95))]
        return f"{self.name:44s} median {statistics.median(s):7.1f} ms   p95 {p95:7.1f} ms"


def timed(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


def measure_queries(url: str, db: Path, now: datetime, days: int, repeats: int) -> None:
    ranges = {**RANGES, f"{days}d": timedelta(days=days)}
    client = httpx.Client(base_url=url)
    timings: dict[str, Timing] = {}

    def series(span: timedelta) -> Callable[[], object]:
        params = {
            "quantity": "temperature",
            "from": (now - span).isoformat(),
            "to": now.isoformat(),
            "max_points": "1000",
        }

        def get() -> object:
            response = client.get("/api/v1/devices/bench-0/series", params=params)
            response.raise_for_status()
            return response.json()

        return get

    calls: dict[str, Callable[[], object]] = {
        "GET /healthz (floor of any request)": lambda: client.get("/healthz").raise_for_status(),
    }
    for key, span in ranges.items():
        calls[f"series {key}, max_points=1000"] = series(span)
    month = timedelta(days=days)
    calls[f"baseline: {days}d from raw rows (GROUP BY)"] = raw_scan(db, now - month, now, 1000)
    body = series(month)()
    assert isinstance(body, dict)
    buckets = body["buckets"]
    empty = sum(1 for b in buckets if b["count"] == 0)
    print(
        f"{days}d series: {len(buckets)} buckets of {body['bucket_seconds']:g} s from the "
        f"{body['level']} rollups, {empty} of them empty (the outages)"
    )
    for call in calls.values():
        call()  # warm up
    for _ in range(repeats):
        for name, call in calls.items():
            timings.setdefault(name, Timing(name, [])).samples.append(timed(call))
    for timing in timings.values():
        print(timing.line())
    real = statistics.median(timings[f"series {days}d, max_points=1000"].samples)
    raw = statistics.median(timings[f"baseline: {days}d from raw rows (GROUP BY)"].samples)
    print(
        f"{days}d series / raw-row baseline: {real / raw:.3f} (median {real:.1f} ms; "
        "target <= 50 ms)"
    )


def measure_page(url: str, repeats: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("device page: skipped, no Chromium (apt-get install chromium)")
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for key in ("24h", "7d", "30d"):  # the ranges the page offers
            samples = []
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(f"{url}/devices/bench-0?range={key}", wait_until="commit")
                page.wait_for_function(
                    "document.querySelectorAll('.plot').length > 0 && "
                    "[...document.querySelectorAll('.plot')].every("
                    "p => p.querySelector('canvas') && p.dataset.state === 'drawn')",
                    timeout=10_000,
                )
                samples.append(page.evaluate("performance.now()"))
                context.close()
            print(Timing(f"device page {key}: navigation to charts drawn", samples).line())
        browser.close()
    print("target: interactive in under 1000 ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--every", type=int, default=2, help="seconds between readings")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--workdir", default="/tmp/bench-history")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # History is measured, not sign-in: the dashboard is public for this server.
    env = server_env(
        workdir, "history", TELEMETRY_MAX_SERIES_POINTS="5000", TELEMETRY_PUBLIC_DASHBOARD="1"
    )
    prepare_database(workdir, env, devices=1)
    now = datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    print(f"seeding {args.days} days, a reading every {args.every} s ...", flush=True)
    rows = seed(env["TELEMETRY_DATABASE_URL"], args.days, args.every, now)
    print(f"seeded {rows:,} readings in {time.perf_counter() - began:.0f} s", flush=True)
    with uvicorn_server(["--factory", "app.main:create_app_from_env"], env, "/healthz") as url:
        measure_queries(url, workdir / "history.db", now, args.days, args.repeats)
        measure_page(url, max(3, args.repeats // 5))


if __name__ == "__main__":
    main()
