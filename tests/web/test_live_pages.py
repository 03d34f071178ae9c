"""Pages, the SSE endpoint and the history API, through a real server on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx2 as httpx
import pytest

from tests.factories import add_device, make_settings
from tests.servers import LiveServer, post_reading, run_live_server


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: str


# Events every stream carries besides its page's: which topic frames are for, the
# stream's id, who is watching, the unread count (tests/live/test_presence.py).
ROUTING = {"topic", "stream", "presence", "watchers", "presence-diff", "watchers-diff", "unread"}


@contextmanager
def sse(url: str, headers: dict[str, str] | None = None) -> Iterator[Iterator[SseEvent]]:
    """Open an event stream; yields an iterator of its page's events."""
    with httpx.stream("GET", url, headers=headers or {}, timeout=10) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")

        def events() -> Iterator[SseEvent]:
            fields: dict[str, list[str]] = {}
            for line in response.iter_lines():
                if line == "":
                    if "event" in fields and fields["event"][0] not in ROUTING:
                        yield SseEvent(
                            fields["id"][0] if "id" in fields else None,
                            fields["event"][0],
                            "\n".join(fields.get("data", [])),
                        )
                    fields = {}
                elif not line.startswith(":"):
                    key, _, value = line.partition(": ")
                    fields.setdefault(key, []).append(value)

        yield events()


def next_event(stream: Iterator[SseEvent], name: str, deadline: float = 5.0) -> SseEvent:
    """The next event called `name`, within `deadline` seconds."""
    started = time.monotonic()
    for event in stream:
        if event.event == name:
            return event
        assert time.monotonic() - started < deadline, f"no {name!r} event in time"
    raise AssertionError("the stream ended")


@pytest.fixture(params=[True, False], ids=["direct", "send"])
def server(sqlite_url: str, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """A server with a fast refresh; its streams written to their sockets, or through send."""
    settings = make_settings(
        sqlite_url, refresh_interval=0.2, sse_streams_per_client=3, sse_direct_write=request.param
    )
    with run_live_server(settings) as live:
        yield live


def test_a_stream_starts_with_a_snapshot_then_carries_updates(server: LiveServer) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0)
    with sse(server.url + "/events?topic=overview") as stream:
        snapshot = next_event(stream, "grid")
        assert "greenhouse" in snapshot.data and "20.0" in snapshot.data
        post_reading(server, token, temperature=23.4)
        update = next_event(stream, "tile-1", deadline=2)
        assert "23.4" in update.data


def test_a_device_registered_while_the_server_runs_appears_before_it_posts(
    server: LiveServer,
) -> None:
    with sse(server.url + "/events?topic=overview") as stream:
        assert "cellar" not in next_event(stream, "grid").data
        add_device(server.app, "cellar")  # as `telemetry device add` does, from outside
        assert "cellar" in next_event(stream, "grid", deadline=10).data
    assert httpx.get(server.url + "/devices/cellar").status_code == 200


def test_a_reconnect_with_last_event_id_gets_only_what_it_missed(server: LiveServer) -> None:
    token = add_device(server.app, "greenhouse")
    post_reading(server, token, temperature=20.0)
    with sse(server.url + "/events?topic=overview") as stream:
        last = next_event(stream, "grid").id
    post_reading(server, token, temperature=25.0)
    with sse(server.url + "/events?topic=overview", {"Last-Event-ID": last or ""}) as stream:
        first = next(stream)
        assert first.event == "tile-1" and "25.0" in first.data
    with sse(server.url + "/events?topic=overview", {"Last-Event-ID": "old-run-7"}) as stream:
        assert next(stream).event == "grid"


def test_a_device_page_streams_its_tile_and_points(server: LiveServer) -> None:
    token = add_device(server.app, "<b>greenhouse<b>")
    post_reading(server, token, temperature=20.0)
    with sse(server.url + "/events?device=" + quote("<b>greenhouse<b>")) as stream:
        assert next(stream).event == "tile-1"
        snapshot = next(stream)
        assert snapshot.event == "points" and '"temperature":[[' in snapshot.data
        assert next(stream).event == "resync"
        post_reading(server, token, temperature=21.0)
        points = next_event(stream, "points", deadline=2)
        # The minute that changed, whole: [minute, min, max, sum, count] of every reading
        # in it (both readings, unless a minute ended between the two posts).
        ((_, low, high, total, count),) = json.loads(points.data)["quantities"]["temperature"]
        assert (low, high, total, count) in ((20.0, 21.0, 41.0, 2), (21.0, 21.0, 21.0, 1))


def test_streams_are_refused_clearly(server: LiveServer) -> None:
    assert httpx.get(server.url + "/events?device=ghost").status_code == 404
    assert httpx.get(server.url + "/events").status_code == 422
    overview = server.url + "/events?topic=overview"
    with sse(overview), sse(overview), sse(overview):
        refused = httpx.get(overview)
        assert refused.status_code == 429
        assert "live streams" in refused.json()["detail"]


def test_pages_show_names_as_text(server: LiveServer) -> None:
    name = "<img src=x onerror=alert(1)>"
    token = add_device(server.app, name)
    post_reading(server, token, temperature=20.0, humidity=50.0)
    overview = httpx.get(server.url + "/").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in overview
    assert "<img src=x" not in overview
    page = httpx.get(server.url + "/devices/" + quote(name, safe=""))
    assert page.status_code == 200
    assert "<img src=x" not in page.text
    assert 'data-quantity="humidity"' in page.text
    missing = httpx.get(server.url + "/devices/ghost")
    assert missing.status_code == 404 and "No device is named" in missing.text


def test_static_assets_are_served_without_internet(server: LiveServer) -> None:
    for path in (
        "/static/vendor/htmx.min.js",
        "/static/vendor/htmx-ext-sse.min.js",
        "/static/vendor/uPlot.iife.min.js",
        "/static/css/app.css",
        "/static/js/charts.js",
    ):
        assert httpx.get(server.url + path).status_code == 200, path
    token = add_device(server.app, "greenhouse")
    httpx.post(
        server.url + "/api/v1/measurements",
        json={"values": {"temperature": 20.0}},
        headers={"Authorization": f"Bearer {token}"},
    )
    device_page = httpx.get(server.url + "/devices/greenhouse")
    assert device_page.status_code == 200 and 'data-quantity="temperature"' in device_page.text
    assets = ("/", "/static/css/app.css", "/static/js/charts.js", "/static/js/app.js")
    texts = [device_page.text, *(httpx.get(server.url + asset).text for asset in assets)]
    for text in texts:
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_the_series_api_and_its_csv_give_the_same_buckets(server: LiveServer) -> None:
    token = add_device(server.app, "greenhouse")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    body = {
        "measurements": [
            {"measured_at": (now - timedelta(minutes=m)).isoformat(), "values": {"temperature": m}}
            for m in range(0, 60)
            if not 20 <= m < 30
        ]
    }
    headers = {"Authorization": f"Bearer {token}"}
    assert (
        httpx.post(
            server.url + "/api/v1/measurements/batch", json=body, headers=headers
        ).status_code
        == 201
    )
    params = {
        "quantity": "temperature",
        "from": (now - timedelta(minutes=59)).isoformat(),
        "to": (now + timedelta(minutes=1)).isoformat(),
        "max_points": "60",
    }
    url = server.url + "/api/v1/devices/greenhouse/series"
    deadline = time.monotonic() + 10
    # The rollups are written about once a second after the readings are committed.
    series = httpx.get(url, params=params).json()
    while sum(b["count"] for b in series["buckets"]) < 50:
        assert time.monotonic() < deadline, "the rollups never caught up"
        time.sleep(0.05)
        series = httpx.get(url, params=params).json()
    assert series["level"] == "minute" and series["bucket_seconds"] == 60
    assert len(series["buckets"]) <= 60
    gaps = [b for b in series["buckets"] if b["count"] == 0]
    assert len(gaps) >= 10 and all(b["mean"] is None for b in gaps)
    csv_text = httpx.get(server.url + "/api/v1/devices/greenhouse/series.csv", params=params).text
    rows = csv_text.strip().splitlines()
    assert rows[0] == "time,min,max,mean,count"
    assert len(rows) - 1 == len(series["buckets"])
    for row, bucket in zip(rows[1:], series["buckets"], strict=True):
        fields = row.split(",")
        assert int(fields[4]) == bucket["count"]
        assert fields[3] == ("" if bucket["mean"] is None else repr(bucket["mean"]))
    raw = httpx.get(server.url + "/api/v1/devices/greenhouse/raw.csv", params=params).text
    assert raw.splitlines()[0] == "time,value" and len(raw.splitlines()) == 1 + 50
    # A range in the past ends at its `to`, not now.
    past = {**params, "to": (now - timedelta(minutes=40)).isoformat()}
    earlier = httpx.get(server.url + "/api/v1/devices/greenhouse/series", params=past).json()
    assert earlier["to"] == past["to"].replace("+00:00", "Z")
    assert sum(b["count"] for b in earlier["buckets"]) == 19  # minutes 59..41
    raw = httpx.get(server.url + "/api/v1/devices/greenhouse/raw.csv", params=past).text
    assert len(raw.splitlines()) == 1 + 19
    assert (
        httpx.get(
            server.url + "/api/v1/devices/greenhouse/series", params={**params, "quantity": "wind"}
        ).status_code
        == 404
    )
    assert (
        httpx.get(
            server.url + "/api/v1/devices/greenhouse/series",
            params={**params, "max_points": "99999"},
        ).status_code
        == 422
    )
    assert (
        httpx.get(
            server.url + "/api/v1/devices/greenhouse/series",
            params={**params, "from": "2026-01-01T00:00:00"},  # no time zone
        ).status_code
        == 422
    )
