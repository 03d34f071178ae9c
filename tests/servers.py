"""A real uvicorn server on a loopback port, run in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import uvicorn
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app


@dataclass
class LiveServer:
    """A running server: its base URL and the app it serves."""

    url: str
    app: FastAPI
    server: uvicorn.Server


@contextmanager
def run_live_server(
    settings: Settings, *, clock: Callable[[], datetime] | None = None, port: int = 0
) -> Iterator[LiveServer]:
    """Serve a new app for `settings` on 127.0.0.1 (on `port`, or any) until the block ends."""
    app = create_app(settings, clock=clock) if clock else create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", proxy_headers=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
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
        # What sse-starlette does on SIGTERM (no signal reaches a server in a thread):
        # end the live streams so the server can stop at once.
        app.state.services.hub.end_streams_threadsafe()
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
