"""A live stream read raw from a real server in a thread, and its frames taken apart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx2 as httpx

from tests.servers import LiveServer
from tests.signing_in import Account

PING = b": ping\n\n"


class RawStream:
    """One tab's stream (`/events?page=other`) with a session: every byte it received."""

    def __init__(self, server: LiveServer, account: Account, *, query: str = "page=other") -> None:
        self.data = b""
        self.status = 0
        self._lock = threading.Lock()
        self._opened = threading.Event()
        self._stop = threading.Event()
        url = f"{server.url}/events?{query}"
        self._thread = threading.Thread(target=self._read, args=(url, account), daemon=True)
        self._thread.start()
        assert self._opened.wait(5), "the stream did not open"

    def _read(self, url: str, account: Account) -> None:
        with httpx.stream("GET", url, timeout=10, cookies=account.cookies) as response:
            self.status = response.status_code
            self._opened.set()
            for chunk in response.iter_raw():
                with self._lock:
                    self.data += chunk
                if self._stop.is_set():
                    return

    def received(self) -> bytes:
        """Everything received so far."""
        with self._lock:
            return self.data

    def text(self, since: int = 0) -> str:
        """What was received, from byte `since` on, as text."""
        return self.received()[since:].decode()

    def wait_for(self, found: Callable[[str], bool], timeout: float, since: int = 0) -> float:
        """Seconds until `found` holds for the text from `since`; fails after `timeout`."""
        started = time.monotonic()
        while not found(self.text(since)):
            assert time.monotonic() - started < timeout, f"not within {timeout} s:\n{self.text()}"
            time.sleep(0.01)
        return time.monotonic() - started

    def close(self) -> None:
        """Stop reading (at the next chunk; pings bring one)."""
        self._stop.set()


def frames(text: str) -> list[tuple[str, str, str]]:
    """(route, event, data) of every event, the route being the last `topic` header's."""
    found, route = [], ""
    for block in text.split("\n\n"):
        event, data = "", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if event == "topic":
            route = "\n".join(data)
        elif event:
            found.append((route, event, "\n".join(data)))
    return found


def events(text: str, name: str) -> list[tuple[str, str]]:
    """(route, data) of every `name` event."""
    return [(route, data) for route, event, data in frames(text) if event == name]
