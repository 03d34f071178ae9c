"""Take the README's screenshots: the overview and a device page over a simulated day.

    .venv/bin/python docs/screenshots.py      (needs Chromium: apt-get install chromium)

Builds a scratch database with four devices and a day of readings each (the greenhouse
with a two-hour outage in the afternoon, the shed quiet for a few minutes, the attic
silent for hours), runs the real server on loopback, keeps the greenhouse posting
through the HTTP API, and photographs the pages in headless Chromium into docs/images.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def climate(at: datetime, base: float, swing: float, rng: random.Random) -> dict[str, float]:
    """A day's cycle, coolest at 05:00 and warmest at 17:00, with a little noise."""
    hours = at.hour + at.minute / 60
    phase = math.cos((hours - 17) / 24 * 2 * math.pi)
    temperature = base + swing * phase + rng.gauss(0, 0.15)
    humidity = 70 - 18 * phase + rng.gauss(0, 0.6)
    return {"temperature": round(temperature, 2), "humidity": round(min(99, humidity), 1)}


def seed(database_url: str, now: datetime) -> tuple[str, str]:
    """A day for each device, and two users; returns the greenhouse's token and the
    session cookie of the admin, who is signed in for the pictures."""
    from app import schema_migrations
    from app.accounts import CLI, Accounts, SessionLifetime
    from app.bus import InProcessBus
    from app.config import Settings
    from app.db import create_db_engine, create_session_factory
    from app.telemetry.devices import DeviceRef, Devices
    from app.telemetry.readings import Reading
    from app.telemetry.writing.group import WriteRequest
    from app.telemetry.writing.transaction import GroupTransaction

    schema_migrations.upgrade(database_url)
    engine = create_db_engine(Settings(database_url=database_url))
    devices = Devices(create_session_factory(engine), lambda: now)
    store = GroupTransaction(engine, max_quantities_per_device=8, durable=False)
    rng = random.Random(7)
    outage = (now - timedelta(hours=9), now - timedelta(hours=7))
    plans = {  # name: (seconds between readings, silent for the last ..., base, swing)
        "greenhouse": (30, timedelta(0), 21.0, 6.0),
        "shed": (30, timedelta(minutes=2), 12.0, 4.0),
        "cellar": (60, timedelta(0), 11.5, 0.6),
        "attic": (60, timedelta(hours=5), 16.0, 8.0),
    }
    token = ""
    for name, (every, silent, base, swing) in plans.items():
        _, device_token = devices.add(name)
        token = token or device_token
        with engine.connect() as conn:
            (device_id,) = conn.exec_driver_sql(
                "SELECT id FROM devices WHERE name = ?", (name,)
            ).one()
        device = DeviceRef(device_id, name)
        at, last = now - timedelta(days=1), now - silent
        readings = []
        while at <= last:
            if not (name == "greenhouse" and outage[0] <= at < outage[1]):
                readings.append(Reading(at, climate(at, base, swing, rng)))
            at += timedelta(seconds=every)
        # One group, so that the device's last-seen time is that of its last chunk.
        chunks = [readings[i : i + 2000] for i in range(0, len(readings), 2000)]
        store.write([WriteRequest(device, c, received_at=c[-1].measured_at) for c in chunks])
    store.flush_rollups()
    store.close()
    lifetime = SessionLifetime(idle=timedelta(days=7), absolute=timedelta(days=30))
    accounts = Accounts(engine, InProcessBus(), lambda: now, lifetime)
    secret = "screenshots only"
    admin = accounts.users.add("ada", secret, role="admin", display_name="Ada L.", actor=CLI)
    accounts.users.add("maria", secret, display_name="María G.", actor=CLI)
    cookie, _ = accounts.sessions.create(
        admin, persistent=True, client="127.0.0.1", user_agent="Mozilla/5.0 (X11; Linux x86_64)"
    )
    engine.dispose()
    return token, cookie


# name, page, viewport width and height (0: the whole page), colour scheme; the
# admin is signed in for every page but the sign-in page.
SHOTS = [
    ("overview.png", "/", 1400, 470, "light"),
    ("overview-dark.png", "/", 1400, 470, "dark"),
    ("device.png", "/devices/greenhouse?range=24h", 1400, 0, "light"),
    ("device-dark.png", "/devices/greenhouse?range=24h", 1400, 0, "dark"),
    ("phone-overview.png", "/", 390, 844, "light"),
    ("phone-device.png", "/devices/greenhouse?range=24h", 390, 844, "dark"),
    ("sign-in.png", "/login", 900, 560, "light"),
    ("admin-users.png", "/admin/users", 1400, 0, "light"),
    ("admin-sessions-dark.png", "/admin/users/ada/sessions", 1400, 0, "dark"),
    ("phone-admin-devices.png", "/admin/devices", 390, 844, "light"),
]


def photograph(
    browser: Any, url: str, path: Path, size: tuple[int, int], scheme: str, cookie: str
) -> None:
    """One page, live and fully drawn, with every request beyond loopback refused."""
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height or 900},
        color_scheme=scheme,
        device_scale_factor=2 if width < 600 else 1,
    )
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("http://127.0.0.1:")
            else route.abort()
        ),
    )
    if not url.endswith("/login"):
        session = {"name": "telemetry_session", "value": cookie, "domain": "127.0.0.1", "path": "/"}
        context.add_cookies([session])
    page = context.new_page()
    page.goto(url)
    if page.locator("#connection").count():
        page.wait_for_selector("#connection[data-state='open']")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.plot')].every(p => p.dataset.state === 'drawn')"
    )
    time.sleep(1.2)  # a live update or two, and "2 s ago" rather than an ISO time
    page.screenshot(path=path, full_page=height == 0)
    context.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("Chromium is needed: apt-get install chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        url_db = f"sqlite:///{scratch}/screens.db"
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        token, cookie = seed(url_db, now)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TELEMETRY_")}
        env.update(TELEMETRY_DATABASE_URL=url_db, PYTHONPATH=str(ROOT))
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app_from_env",
             "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    if httpx.get(base + "/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            rng = random.Random(3)

            def post() -> None:
                values = climate(datetime.now(UTC), 21.0, 6.0, rng)
                httpx.post(
                    base + "/api/v1/measurements",
                    json={"values": values},
                    headers={"Authorization": f"Bearer {token}"},
                ).raise_for_status()

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
                for _ in range(4):  # a live rhythm the server learns
                    post()
                    time.sleep(1)
                for name, path, width, height, scheme in SHOTS:
                    size = (width, height)
                    photograph(browser, base + path, IMAGES / name, size, scheme, cookie)
                    post()
                browser.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=20)
    for name, *_ in SHOTS:
        print(f"wrote docs/images/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
