"""Running the app under uvicorn: the server object `telemetry serve` and the tests use.

Shutdown: uvicorn waits for every open connection to end before it tells the app it
stops, and a live stream never ends by itself. TelemetryServer's exit handler (what
uvicorn calls on SIGTERM and SIGINT) therefore first tells the hub to end every stream,
at once; each ends with its last chunk, the browsers reconnect to the next server, and
uvicorn goes on with its usual shutdown. A bare `uvicorn --factory
app.main:create_app_from_env` has no such handler: its streams end when its
`--timeout-graceful-shutdown` runs out, so give it one (README, "Running it").

Live streams whose client stopped reading (a frozen tab, a suspended laptop) are ended
by the hub within TELEMETRY_SSE_SEND_TIMEOUT when their updates are written straight to
their sockets (app/web/direct_write.py). Without that (TELEMETRY_SSE_DIRECT_WRITE=0, or
no httptools), the hub cannot reach the sockets, so the listening socket gets the
kernel's TCP_USER_TIMEOUT, which every connection inherits: the kernel ends a connection
whose peer acknowledged nothing, or kept its window shut, for that long.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
from types import FrameType

import uvicorn

from app.config import Settings
from app.main import TelemetryApp, create_app

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 5  # for requests in flight once the streams are ended


class TelemetryServer(uvicorn.Server):
    """uvicorn's server, whose exit handler ends every live stream first."""

    def __init__(self, config: uvicorn.Config, app: TelemetryApp) -> None:
        super().__init__(config)
        self.telemetry_app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.telemetry_app.end_streams_threadsafe()
        super().handle_exit(sig, frame)


def set_user_timeout(sock: socket.socket, seconds: float) -> bool:
    """Let the kernel end connections that take nothing for `seconds` (Linux only)."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    sock.setsockopt(socket.IPPROTO_TCP, option, max(1, round(seconds * 1000)))
    return True


def build_server(
    app: TelemetryApp,
    settings: Settings,
    *,
    host: str,
    port: int,
    access_log: bool = False,
    log_level: str | None = None,
    root_path: str = "",
) -> tuple[TelemetryServer, socket.socket]:
    """A server for `app` and its bound listening socket; `server.run(sockets=[sock])`."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level or settings.log_level,
        access_log=access_log,
        # Client addresses behind proxies are resolved by the app from
        # TELEMETRY_TRUSTED_PROXIES; uvicorn must not rewrite them first.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        root_path=root_path,
    )
    sock = config.bind_socket()
    if not direct_writes_possible(settings) and not set_user_timeout(
        sock, settings.sse_send_timeout
    ):
        logger.warning(
            "this system has no TCP_USER_TIMEOUT: without direct writes, a live stream "
            "whose client stopped reading stays open until its client goes away"
        )
    return TelemetryServer(config, app), sock


def direct_writes_possible(settings: Settings) -> bool:
    """True if live streams can be written to their sockets: on, and httptools there."""
    return settings.sse_direct_write and importlib.util.find_spec("httptools") is not None


def serve(settings: Settings, *, host: str, port: int, access_log: bool) -> None:
    """Serve until SIGTERM or SIGINT; every live stream ends at once on either."""
    server, sock = build_server(
        create_app(settings), settings, host=host, port=port, access_log=access_log
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def serve_reloading(settings: Settings, *, host: str, port: int, access_log: bool) -> None:
    """Serve, restarting on code changes (development): uvicorn's own reloader."""
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        reload=True,
        log_config=None,
        log_level=settings.log_level,
        access_log=access_log,
        proxy_headers=False,
        # The reloader's worker is a plain uvicorn server: streams end at this timeout.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
