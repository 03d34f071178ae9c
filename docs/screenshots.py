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


def seed(database_url: str, now: datetime) -> tuple[str, str, str, str]:
    """A day for each device, two users, a few notifications and a chart note; returns
    the greenhouse's token, the session cookies of the admin (signed in for the
    pictures) and of the viewer (watching too, so the header lists two people), and the
    admin's personal token."""
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
    viewer = accounts.users.add("maria", secret, display_name="María G.", actor=CLI)
    agent = "Mozilla/5.0 (X11; Linux x86_64)"
    cookie, _ = accounts.sessions.create(
        admin, persistent=True, client="127.0.0.1", user_agent=agent
    )
    viewer_cookie, _ = accounts.sessions.create(
        viewer, persistent=True, client="127.0.0.1", user_agent=agent
    )
    admin_token, _ = accounts.tokens.create("ada", actor=CLI)
    notes = [
        ("Greenhouse back online", "Power was restored at 14:10; readings resume.", "info"),
        (
            "Frost tonight",
            "Down to -3 °C after midnight: close the vents.\nSee /devices/greenhouse",
            "warning",
        ),
        ("Attic sensor silent", "No reading for 5 hours. Check its battery.", "critical"),
    ]
    for title, message, level in notes:
        accounts.notifications.send(
            title, message, level=level, sender_id=None, users=None, actor=CLI
        )
    accounts.notes.add(
        "greenhouse",
        author_id=viewer.id,
        text="Heater off for repair, @ada please check the vent",
        starts_at=outage[0],
        ends_at=outage[1],
        earliest=now - timedelta(days=30),
    )
    accounts.notes.add(
        "greenhouse",
        author_id=admin.id,
        text="Vent opened",
        starts_at=now - timedelta(hours=3),
        earliest=now - timedelta(days=30),
    )
    engine.dispose()
    return token, cookie, viewer_cookie, admin_token


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
    ("inbox.png", "/inbox", 1400, 0, "light"),
    ("phone-inbox-dark.png", "/inbox", 390, 844, "dark"),
    ("admin-notify.png", "/admin/notify", 1400, 0, "light"),
    ("toast.png", "/", 1400, 470, "light"),
    ("toast-dark.png", "/devices/greenhouse?range=24h", 1400, 0, "dark"),
]


def photograph(
    browser: Any,
    url: str,
    path: Path,
    size: tuple[int, int],
    scheme: str,
    cookie: str,
    before: Any = None,
) -> None:
    """One page, live and fully drawn, with every request beyond loopback refused;
    `before(page)`, if given, runs just before the picture is taken."""
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
    if before is not None:
        before(page)
    page.screenshot(path=path, full_page=height == 0)
    page.close(run_before_unload=True)  # it says it leaves: gone from the next header
    time.sleep(1)
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
        token, cookie, viewer_cookie, admin_token = seed(url_db, now)
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

            sent = iter(range(1, 100))

            def toast(page: Any) -> None:
                """A notification arriving: its toast shows in the tab."""
                number = next(sent)
                httpx.post(
                    base + "/api/v1/notifications",
                    json={
                        "title": f"Shed door open ({number})",
                        "message": "The shed reads 4 °C warmer than usual. See /devices/shed",
                        "level": "warning",
                        "link": "/devices/shed",
                        "users": ["ada"],
                    },
                    headers={"Authorization": f"Bearer {admin_token}"},
                ).raise_for_status()
                page.wait_for_selector("#toasts .toast")
                time.sleep(0.5)

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
                # María watches too, so that the header lists two people.
                watcher = browser.new_context()
                watcher.add_cookies([{"name": "telemetry_session", "value": viewer_cookie,
                                      "domain": "127.0.0.1", "path": "/"}])  # fmt: skip
                watcher.new_page().goto(base + "/devices/greenhouse")
                for _ in range(4):  # a live rhythm the server learns
                    post()
                    time.sleep(1)
                for name, path, width, height, scheme in SHOTS:
                    size = (width, height)
                    before = toast if name.startswith("toast") else None
                    photograph(browser, base + path, IMAGES / name, size, scheme, cookie, before)
                    post()
                watcher.close()
                browser.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=20)
    for name, *_ in SHOTS:
        print(f"wrote docs/images/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
