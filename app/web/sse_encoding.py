"""Server-sent events encoded by sse-starlette, for the hub to frame once for all viewers.

sse-starlette's ServerSentEvent splits multi-line data on CR, LF and CRLF only, as the
SSE specification reads a stream; `str.splitlines()` would also split on U+2028,
U+0085 and others, and a device named with one of them would read differently in a
live tile than on its page.
"""

from __future__ import annotations

from sse_starlette import ServerSentEvent


def encode_event(event: str, data: str, event_id: str | None = None) -> bytes:
    """One event: its id (if any), name and data lines, LF-separated."""
    return ServerSentEvent(data, event=event, id=event_id, sep="\n").encode()
