"""The overview with 500 devices: GET / on the server, warm and cold, and the page scrolling.

Seeds a fresh SQLite database with `--devices` devices, each with temperature, humidity
and pressure every minute of the last hour, through the real write path: every tile has
three values and three full sparklines. Then, against a real server on loopback, in
`--rounds` alternating rounds:

  1. burst: one reading is posted for every device while nobody watches (untimed), so
     every tile goes stale; `GET /` at once renders those the hub has not yet rendered
     ahead (the server's render counter says how many);
  2. settled: the same, `GET /` SETTLE_TICKS refresh intervals after the burst, once
     the tiles have been quiet long enough for the hub to render them ahead;
  3. `GET /healthz`, the floor of any request;
  4. warm: `GET /` again, every tile already rendered (the hub's cached tiles).

With Chromium (Debian's package) it opens the page and scrolls it to the bottom,
`--step` pixels a frame (a fast flick), and reports the gaps between frames: the page as
served and with `content-visibility: auto` added to the tiles, in alternation.

Usage: python bench/overview.py [--devices 500] [--rounds 20]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx

from app.live.tiles import QUIET_TICKS
from bench.history import CHROMIUM_ARGS, Timing, timed
from bench.ingest import prepare_database, server_env, uvicorn_server

OPTIONS = [
    ("--devices", 500, "devices seeded, each with three quantities"),
    ("--rounds", 20, "rounds of cold, floor and warm requests"),
    ("--scrolls", 6, "page loads per way of scrolling"),
    ("--step", 300, "pixels scrolled a frame"),
    ("--workdir", "/tmp/bench-overview", "where the database goes"),
]
QUANTITIES = {"temperature": 21.0, "humidity": 55.0, "pressure": 1013.0}
SETTLE_TICKS = QUIET_TICKS + 2  # quiet long enough to be rendered ahead, and a tick more
# Scrolls the page STEP pixels a frame to the bottom; returns the gaps between frames (ms).
SCROLL = """async (STEP) => {
    window.scrollTo(0, 0);
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const gaps = [];
    let last = performance.now();
    while (window.scrollY + innerHeight < document.documentElement.scrollHeight - 1) {
        window.scrollBy(0, STEP);
        await new Promise(r => requestAnimationFrame(r));
        const now = performance.now();
        gaps.push(now - last);
        last = now;
    }
    return gaps;
}"""
# What the page would gain from skipping the layout of tiles off screen: the same page with
# it, side by side (app.css leaves it out: it measured no better, see docs/benchmarks.md).
CONTENT_VISIBILITY = (
    ".grid > .tile { content-visibility: auto; contain-intrinsic-size: auto 10rem; }"
)


def seed(database_url: str, devices: int, now: datetime) -> int:
    """Store the last hour of three quantities a minute for every device; returns values."""
    from app.config import Settings
    from app.db import create_db_engine
    from app.telemetry.devices import DeviceRef
    from app.telemetry.readings import Reading
    from app.telemetry.writing.group import WriteRequest
    from app.telemetry.writing.transaction import GroupTransaction

    engine = create_db_engine(Settings(database_url=database_url))
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, name FROM devices ORDER BY id").all()
    store = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    requests = []
    for device_id, name in rows[:devices]:
        readings = [
            Reading(
                now - timedelta(minutes=minute),
                {q: base + (device_id + minute) % 7 / 2 for q, base in QUANTITIES.items()},
            )
            for minute in range(60, 0, -1)
        ]
        requests.append(WriteRequest(DeviceRef(device_id, name), readings, received_at=now))
    store.write(requests)
    store.flush_rollups()
    store.close()
    engine.dispose()
    return len(requests) * 60 * len(QUANTITIES)


def renders(client: httpx.Client) -> int:
    """Tiles the server has rendered since it started."""
    text = client.get("/metrics").text
    found = re.search(r"^telemetry_live_renders_total (\d+)", text, re.MULTILINE)
    assert found, "the server's metrics lack the render counter"
    return int(found.group(1))


def post_all(client: httpx.Client, tokens: list[str], round_: int) -> None:
    """One new reading for every device (nobody watches: their tiles go stale)."""
    for token in tokens:
        values = {q: base + round_ % 5 for q, base in QUANTITIES.items()}
        response = client.post(
            "/api/v1/measurements",
            json={"values": values},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code in (200, 201), response.text


def measure_requests(url: str, tokens: list[str], rounds: int, interval: float) -> None:
    client = httpx.Client(base_url=url, timeout=30)
    names = {
        "burst": f"GET / just after all {len(tokens)} devices posted",
        "settled": f"GET / {SETTLE_TICKS} intervals after they posted",
        "floor": "GET /healthz (floor of any request)",
        "warm": "GET / warm: tiles cached",
    }
    timings = {key: Timing(name, []) for key, name in names.items()}
    rendered: dict[str, list[int]] = {"burst": [], "settled": []}
    size = len(client.get("/").content)  # renders every tile once (warm-up)

    def page_after_posts(round_: int, wait: float, key: str) -> float:
        post_all(client, tokens, round_)
        time.sleep(wait)
        before = renders(client)
        took = timed(lambda: client.get("/").raise_for_status())
        rendered[key].append(renders(client) - before)
        return took

    for round_ in range(rounds + 1):
        burst = page_after_posts(round_, 0, "burst")
        settled = page_after_posts(round_ + 1, interval * SETTLE_TICKS, "settled")
        floor = timed(lambda: client.get("/healthz").raise_for_status())
        warm = timed(lambda: client.get("/").raise_for_status())
        if round_ == 0:
            continue  # warm-up
        for key, value in (("burst", burst), ("settled", settled), ("floor", floor)):
            timings[key].samples.append(value)
        timings["warm"].samples.append(warm)
    print(f"page: {size:,} bytes; tiles rendered by the requests: ", end="")
    print(
        ", ".join(f"{key} {statistics.median(n[1:]):.0f} (median)" for key, n in rendered.items())
    )
    for timing in timings.values():
        print(timing.line())
    floor_ms = statistics.median(timings["floor"].samples)
    print(
        ", ".join(
            f"{key}: {statistics.median(timings[key].samples):.1f} ms "
            f"({statistics.median(timings[key].samples) / floor_ms:.1f}x the floor)"
            for key in ("burst", "settled", "warm")
        )
        + "; target <= 50 ms"
    )


def measure_scrolling(url: str, repeats: int, step: int) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("scrolling: skipped, no Chromium (apt-get install chromium)")
        return
    from playwright.sync_api import sync_playwright

    results: dict[str, dict[str, list[float]]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        modes = ["as served", "content-visibility: auto"]
        for repeat in range(repeats):
            for mode in modes if repeat % 2 == 0 else modes[::-1]:
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(url + "/", wait_until="load")
                if mode != "as served":
                    page.add_style_tag(content=CONTENT_VISIBILITY)
                page.wait_for_selector("#connection[data-state='open']")
                load: Any = page.evaluate(
                    "performance.getEntriesByType('navigation')[0].loadEventEnd"
                )
                gaps: list[float] = page.evaluate(SCROLL, step)
                result = results.setdefault(mode, {"load": [], "worst": [], "median": []})
                result["load"].append(float(load))
                result["worst"].append(max(gaps))
                result["median"].append(statistics.median(gaps))
                context.close()
        browser.close()
    for mode, result in results.items():
        load, median, worst = (statistics.median(result[k]) for k in ("load", "median", "worst"))
        line = f"{mode:26s} navigation to load {load:6.0f} ms; scrolling to the bottom: "
        print(line + f"median frame {median:5.1f} ms, worst {worst:6.1f} ms (median of runs)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    for flag, default, meaning in OPTIONS:
        parser.add_argument(flag, type=type(default), default=default, help=meaning)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    interval = 1.0  # the default refresh interval
    # Pages are measured, not sign-in: the dashboard is public for this server.
    env = server_env(
        workdir,
        "overview",
        TELEMETRY_REFRESH_INTERVAL=str(interval),
        TELEMETRY_PUBLIC_DASHBOARD="1",
        TELEMETRY_METRICS_PUBLIC="1",
    )
    tokens = prepare_database(workdir, env, devices=args.devices).read_text().split()
    now = datetime.now(UTC).replace(microsecond=0)
    values = seed(env["TELEMETRY_DATABASE_URL"], args.devices, now)
    print(f"{args.devices} devices, {values:,} values of the last hour seeded", flush=True)
    with uvicorn_server(["--factory", "app.main:create_app_from_env"], env, "/healthz") as url:
        measure_requests(url, tokens, args.rounds, interval)
        measure_scrolling(url, args.scrolls, args.step)


if __name__ == "__main__":
    main()
