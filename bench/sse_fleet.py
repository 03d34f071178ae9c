"""Tiles rendered per tick for a fleet, with and without a crowd of viewers (bench/sse.py).

On a server with --devices devices each posting 10 readings a second, the hub's
counters from /metrics (TELEMETRY_METRICS_PUBLIC=1): tiles rendered per tick with no
viewer, then with up to 2,000 signed-in viewers on the overview. Renders depend on the
devices that changed and are watched, never on how many watch.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

import httpx2 as httpx

from bench.accounts_seed import create_sessions
from bench.ingest import prepare_database, server_env, uvicorn_server
from bench.streams import Viewer, open_all, stream_request

OVERVIEW = "/events?topic=overview"


async def renders_per_tick(url: str, tokens: list[str], seconds: float) -> float:
    """Tiles rendered per tick while every device of `tokens` posts 10 readings/s."""
    stop = asyncio.Event()
    # One client for all: building a client per device (an SSL context each, tens of ms
    # of blocked loop) let the first devices' connects time out on a busy machine.
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    client = httpx.AsyncClient(base_url=url, limits=limits, timeout=30)

    async def device(token: str) -> None:
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
    await client.aclose()
    return (renders1 - renders0) / (ticks1 - ticks0)


async def fleet_renders(workdir: Path, options: dict[str, str], args: argparse.Namespace) -> str:
    """Renders per tick: a fleet, with and without a crowd watching the overview."""
    env = server_env(workdir, "fleet", TELEMETRY_METRICS_PUBLIC="1", **options)
    fleet = prepare_database(workdir, env, devices=args.devices).read_text().split()
    crowd_size = min(args.viewers, 2000)
    cookies = create_sessions(env["TELEMETRY_DATABASE_URL"], -(-crowd_size // 100), 100)
    target = ["--factory", "app.main:create_app_from_env", "--backlog", "8192"]
    with uvicorn_server(target, env, "/healthz") as url:
        without = await renders_per_tick(url, fleet, args.seconds / 2)
        crowd = [Viewer(stream_request(OVERVIEW, c), b"event: ") for c in cookies[:crowd_size]]
        await open_all("crowd", url, crowd, wait_s=60)
        with_crowd = await renders_per_tick(url, fleet, args.seconds / 2)
        for viewer in crowd:
            viewer.close()
        await asyncio.sleep(1)
    return (
        f"tiles rendered per tick, {args.devices} devices posting 10 readings/s each: "
        f"{without:.1f} with no viewer, {with_crowd:.1f} with {crowd_size} signed-in "
        f"viewers on the overview (target <= {args.devices})"
    )
