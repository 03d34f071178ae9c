"""A real uvicorn server on a loopback port, run in a thread of the test process."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx2 as httpx

from app.config import Settings
from app.main import TelemetryApp, create_app
from app.serving import TelemetryServer, build_server


@dataclass
class LiveServer:
    """A running server: its base URL and the app it serves."""

    url: str
    app: TelemetryApp
    server: TelemetryServer


@contextmanager
def run_live_server(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    port: int = 0,
    root_path: str = "",
) -> Iterator[LiveServer]:
    """Serve a new app for `settings` on 127.0.0.1 (on `port`, or any) until the block ends."""
    app = create_app(settings, clock=clock) if clock else create_app(settings)
    server, sock = build_server(
        app, settings, host="127.0.0.1", port=port, log_level="warning", root_path=root_path
    )
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, server=server)
    finally:
        # What SIGTERM does (no signal reaches a server in a thread): the exit handler
        # ends the live streams, then the server stops.
        server.handle_exit(signal.SIGTERM, None)
        thread.join(timeout=15)
        sock.close()


def post(server: LiveServer, token: str, **values: float) -> None:
    """Post a reading dated now; it must be stored."""
    response = httpx.post(
        server.url + "/api/v1/measurements",
        json={"values": values},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text


def post_reading(server: LiveServer, token: str, **values: float) -> None:
    """Post a reading now, then wait until the live views have sent it out (a tick later)."""
    post(server, token, **values)
    hub = server.app.state.services.hub

    def shown() -> bool:
        return any(
            all(
                name in view.quantities and view.quantities[name].value == value
                for name, value in values.items()
            )
            for view in list(hub.views.values())
        )

    deadline = time.monotonic() + 5
    while not shown():
        assert time.monotonic() < deadline, "the live views never got the reading"
        time.sleep(0.01)
    ticks = hub.stats.ticks
    while hub.stats.ticks <= ticks:  # rendered and sent, as a frame or in the grid
        assert time.monotonic() < deadline, "the hub stopped ticking"
        time.sleep(0.01)


def post_readings(
    server: LiveServer, token: str, readings: list[tuple[datetime, dict[str, float]]]
) -> None:
    """Post readings measured at the given times, in one batch; they must be stored."""
    body = {"measurements": [{"measured_at": at.isoformat(), "values": v} for at, v in readings]}
    response = httpx.post(
        server.url + "/api/v1/measurements/batch",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
