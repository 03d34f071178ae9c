"""Chart notes reach the open streams of their device's page, as one JSON line each."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest

from tests.factories import add_device, make_settings
from tests.raw_streams import RawStream
from tests.servers import LiveServer, run_live_server
from tests.signing_in import Account, make_account


@pytest.fixture
def server(sqlite_url: str) -> Iterator[LiveServer]:
    settings = make_settings(sqlite_url, public_dashboard=False, refresh_interval=0.1)
    with run_live_server(settings) as server:
        add_device(server.app, "greenhouse")
        add_device(server.app, "cellar")
        yield server


def device_stream(server: LiveServer, account: Account, device: str) -> RawStream:
    """A device page's stream, past its first frames (it carries its topics by then)."""
    stream = RawStream(server, account, query=f"device={device}")
    stream.wait_for(lambda text: "event: stream" in text, 5)
    return stream


def notes_frames(stream: RawStream) -> list[list[str]]:
    """The data lines of each `notes` frame so far."""
    return [
        [line for line in frame.split("\n") if line.startswith("data:")]
        for frame in stream.text().split("\n\n")
        if "event: notes" in frame.split("\n")
    ]


def wait_for_notes(stream: RawStream, count: int, within: float) -> list[Any]:
    """The JSON of the first `count` notes frames, which must come within `within` s."""
    stream.wait_for(lambda _: len(notes_frames(stream)) >= count, within)
    found = []
    for lines in notes_frames(stream)[:count]:
        assert len(lines) == 1, f"a notes frame split into {lines}"
        found.append(json.loads(lines[0].removeprefix("data: ")))
    return found


def test_a_note_reaches_the_device_streams_within_a_second_and_so_does_its_deletion(
    server: LiveServer,
) -> None:
    maria = make_account(server.app, "maria")
    jonas = make_account(server.app, "jonas")
    watching, elsewhere = (
        device_stream(server, jonas, "greenhouse"),
        device_stream(server, jonas, "cellar"),
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
    (frame,) = wait_for_notes(watching, 1, within=1.0)
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
    assert wait_for_notes(watching, 2, within=1.0)[1] == {"deleted": note_id}
    assert time.monotonic() - deleted_at < 1.0
    assert notes_frames(elsewhere) == [], "another device's page heard of the note"
