"""Chart notes reach the open streams of their device's page, as one JSON line each."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from tests.factories import add_device, make_settings
from tests.servers import LiveServer, run_live_server
from tests.signing_in import Account, make_account


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(sqlite_url, public_dashboard=False, refresh_interval=0.1)
    with run_live_server(settings) as server:
        add_device(server.app, "greenhouse")
        add_device(server.app, "cellar")
        yield server


class DeviceStream:
    """The raw bytes of a device page's stream, read in a thread."""

    def __init__(self, server: LiveServer, account: Account, device: str) -> None:
        self.data = b""
        self._opened = threading.Event()
        url = f"{server.url}/events?device={device}"
        thread = threading.Thread(target=self._read, args=(url, account), daemon=True)
        thread.start()
        assert self._opened.wait(5), "the stream did not open"
        deadline = time.monotonic() + 5
        while b"event: stream" not in self.data:  # the stream has joined its topics
            assert time.monotonic() < deadline, "the stream sent no first frames"
            time.sleep(0.01)

    def _read(self, url: str, account: Account) -> None:
        with httpx.stream("GET", url, cookies=account.cookies, timeout=10) as response:
            assert response.status_code == 200
            self._opened.set()
            for chunk in response.iter_raw():
                self.data += chunk

    def notes(self) -> list[list[str]]:
        """The data lines of each `notes` frame so far."""
        frames = self.data.decode().split("\n\n")
        return [
            [line for line in frame.split("\n") if line.startswith("data:")]
            for frame in frames
            if "event: notes" in frame.split("\n")
        ]

    def wait_for_notes(self, count: int, within: float) -> list[Any]:
        """The JSON of the first `count` notes frames, which must come within `within` s."""
        deadline = time.monotonic() + within
        while len(self.notes()) < count:
            assert time.monotonic() < deadline, f"no notes frame within {within} s"
            time.sleep(0.01)
        found = []
        for lines in self.notes()[:count]:
            assert len(lines) == 1, f"a notes frame split into {lines}"
            found.append(json.loads(lines[0].removeprefix("data: ")))
        return found


def test_a_note_reaches_the_device_streams_within_a_second_and_so_does_its_deletion(
    server: LiveServer,
) -> None:
    maria = make_account(server.app, "maria")
    jonas = make_account(server.app, "jonas")
    watching, elsewhere = (
        DeviceStream(server, jonas, "greenhouse"),
        DeviceStream(server, jonas, "cellar"),
    )
    text = "<script>alert(1)</script>\n\ndata: x\revent: grid\r\n@jonas"
    moment = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    posted_at = time.monotonic()
    added = httpx.post(
        server.url + "/api/v1/devices/greenhouse/notes",
        json={"text": text, "at": moment},
        headers=maria.bearer,
    )
    assert added.status_code == 201, added.text
    (frame,) = watching.wait_for_notes(1, within=1.0)
    assert time.monotonic() - posted_at < 1.0
    assert frame == {"note": added.json()}
    assert frame["note"]["text"] == "<script>alert(1)</script>\n\ndata: x\nevent: grid\n@jonas"
    assert b"<script>" not in watching.data.split(b"event: notes", 1)[0]
    note_id = added.json()["id"]
    deleted_at = time.monotonic()
    gone = httpx.delete(
        f"{server.url}/api/v1/devices/greenhouse/notes/{note_id}", headers=maria.bearer
    )
    assert gone.status_code == 204
    assert watching.wait_for_notes(2, within=1.0)[1] == {"deleted": note_id}
    assert time.monotonic() - deleted_at < 1.0
    assert elsewhere.notes() == [], "another device's page heard of the note"
