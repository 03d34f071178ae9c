"""The fast path of live streams: the hub's frames written straight to the client's socket.

Why: a frame passed through the ASGI server's `send` wakes the stream's coroutine, which
wakes the server's, once per viewer per update. At 10,000 viewers that turn through the
event loop was most of the cost of a delivery: the 99th percentile of "update on the
wire after the tick" went from 238 ms through `send` to 83 ms written directly
(docs/benchmarks.md, `python3 dev.py bench sse`). Once a stream's headers and snapshot
have gone through `send`, its viewer writes each frame, framed once for all viewers as an
HTTP chunk, to the connection's transport (app/live/viewers.py).

ASGI offers no way to reach the connection, so this module reads uvicorn's internals,
and only these, all on the object behind the server's `send`:

    send.__self__                  uvicorn.protocols.http.httptools_impl.RequestResponseCycle
                                   (recognised by its module: the h11 protocol, other
                                   servers and any middleware wrapping `send` are not used)
    send.__self__.transport        the connection's asyncio transport (asyncio's or uvloop's)
    send.__self__.chunked_encoding True once the response started with chunked encoding,
                                   which is how a frame must then be framed
    send.__self__.disconnected     True once the client has gone

Everything else is public: the transport's write, get_write_buffer_size, is_closing,
abort and `socket` extra info, and on Linux the kernel's SIOCOUTQ ioctl on that socket
(app/live/send_queue.py), which says how many bytes the client has not acknowledged
yet. That last one is what lets the hub end a frozen tab within the send timeout
(LiveHub.drop_stalled): the kernel grows a socket's send buffer to megabytes, so the
transport alone would see nothing for minutes.

uvicorn is pinned to the minor versions this was checked against (pyproject.toml);
tests/web/test_direct_write.py fails when a stream on uvicorn stops being written this
way, and /metrics (`telemetry_live_viewers_wired`) shows it in production. When the
internals are not there, or TELEMETRY_SSE_DIRECT_WRITE=0, streams go through `send`,
correct and slower, and the server says so once in its log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.types import Send

from app.live.viewers import Wire

logger = logging.getLogger(__name__)

_CYCLE_MODULE = "uvicorn.protocols.http.httptools_impl"


_TRANSPORT_METHODS = ("write", "get_write_buffer_size", "is_closing", "abort", "get_extra_info")


def _transport(send: Send) -> Any:
    """uvicorn's (httptools) transport behind `send`; None for anything else."""
    cycle = getattr(send, "__self__", None)
    if type(cycle).__module__ != _CYCLE_MODULE:
        return None
    transport = getattr(cycle, "transport", None)
    if not all(callable(getattr(transport, name, None)) for name in _TRANSPORT_METHODS):
        return None
    return transport


def connection_abort(send: Send) -> Callable[[], None] | None:
    """What cuts the connection under `send` (uvicorn with httptools), else None.

    Used to end a stream that stopped reading before it was wired, whose `send` waits
    for a socket that never drains.
    """
    transport = _transport(send)
    return None if transport is None else transport.abort


def server_wire(send: Send) -> Wire | None:
    """The connection under `send`, if it is uvicorn's httptools writing a chunked body."""
    transport = _transport(send)
    cycle = getattr(send, "__self__", None)
    if (
        transport is None
        or getattr(cycle, "chunked_encoding", None) is not True
        or getattr(cycle, "disconnected", True)
        or transport.is_closing()
    ):
        return None
    return transport  # type: ignore[no-any-return]


class DirectWrite:
    """Whether live streams are written to their sockets, and why not when they are not."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.unavailable: str | None = None  # why a stream could not be wired, once known

    @property
    def in_use(self) -> bool:
        """True while streams are being written straight to their sockets (the gauge)."""
        return self.enabled and self.unavailable is None

    def warn_if_off(self) -> None:
        """At start-up: one warning if the operator turned the fast path off."""
        if not self.enabled:
            _warn_slow("TELEMETRY_SSE_DIRECT_WRITE=0")

    def wire(self, send: Send) -> Wire | None:
        """The stream's wire, or None (and one warning per process) if there is none."""
        wire = server_wire(send)
        if wire is None and self.unavailable is None and _transport(send) is None:
            self.unavailable = "the server is not uvicorn with its httptools protocol"
            _warn_slow(f"{self.unavailable}; run `telemetry serve`, or uvicorn --http httptools")
        return wire


def _warn_slow(why: str) -> None:
    logger.warning(
        "live streams go through the ASGI server's send (%s): correct, but each update "
        "costs several times more CPU with many viewers",
        why,
    )
