"""A real uvicorn server on a loopback port, run in a thread of the test process."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

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
    settings: Settings, *, clock: Callable[[], datetime] | None = None, port: int = 0
) -> Iterator[LiveServer]:
    """Serve a new app for `settings` on 127.0.0.1 (on `port`, or any) until the block ends."""
    app = create_app(settings, clock=clock) if clock else create_app(settings)
    server, sock = build_server(app, settings, host="127.0.0.1", port=port, log_level="warning")
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
