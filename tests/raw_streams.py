"""Live streams read raw from a real server, as a browser reads them: every byte in a
thread, the frames with the route of each (the last `topic` header before it), and
the presence lists they show, whole and then by differences (app/live/lobby.py)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import httpx2 as httpx

from tests.servers import LiveServer
from tests.signing_in import Account

PING = b": ping\n\n"


class RawStream:
    """One stream (`/events?page=other`, or `query`) with a session: every byte received."""

    def __init__(
        self,
        server: LiveServer,
        account: Account,
        *,
        query: str = "page=other",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.data = b""
        self._headers = headers or {}
        self.status = 0
        self._lock = threading.Lock()
        self._opened = threading.Event()
        self._stop = threading.Event()
        url = f"{server.url}/events?{query}"
        self._thread = threading.Thread(target=self._read, args=(url, account), daemon=True)
        self._thread.start()
        assert self._opened.wait(5), "the stream did not open"

    def _read(self, url: str, account: Account) -> None:
        with httpx.stream(
            "GET", url, timeout=30, cookies=account.cookies, headers=self._headers
        ) as response:
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

    def whole(self) -> str:
        """The text received up to the end of its last whole frame."""
        text = self.text()
        return text[: text.rfind("\n\n") + 2]

    def stream_id(self, timeout: float = 5) -> str:
        """The stream's id, from its first event."""
        self.wait_for(lambda text: "event: stream" in text, timeout)
        [(_, data)] = events(self.whole(), "stream")
        return str(json.loads(data)["stream"])

    def lists(self) -> Lists:
        """The presence lists the stream shows so far."""
        seen = Lists()
        seen.read(self.whole())
        return seen

    def wait_for_lists(self, check: Callable[[Lists], bool], timeout: float = 3.0) -> float:
        """Wait until the lists pass `check`; returns when (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self.lists()):
                return time.monotonic()
            time.sleep(0.02)
        raise AssertionError(f"the lists never passed the check: {self.lists().lists}")

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


class Lists:
    """The presence lists one stream shows, from its whole lists and differences."""

    def __init__(self) -> None:
        self.lists: dict[str, tuple[dict[int, tuple[str, int]], int]] = {}
        self.totals: dict[str, int] = {}  # users in each list, named or not
        self.updates: list[str] = []  # routes of the differences read

    def read(self, text: str) -> str:
        """Apply the list frames of `text` (in order); returns the text."""
        for route, event, data in frames(text):
            if event not in ("presence", "watchers", "presence-diff", "watchers-diff"):
                continue
            value = json.loads(data)
            if event.endswith("-diff"):
                rows, _ = self.lists[route]
                rows.update({row[0]: (row[1], row[2]) for row in value["set"]})
                for gone in value["gone"]:
                    del rows[gone]
                self.lists[route] = (rows, value["guests"])
                self.totals[route] = value["total"]
                self.updates.append(route)
            else:
                rows = {row[0]: (row[1], row[2]) for row in value["users"]}
                self.lists[route] = (rows, value["guests"])
                self.totals[route] = value["total"]
        return text

    def shown(self, route: str = "presence") -> list[tuple[str, int]]:
        """(display name, tabs) of each user the list holds, in name order."""
        rows, _ = self.lists[route]
        return sorted(rows.values(), key=lambda row: row[0].casefold())
