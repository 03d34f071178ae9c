"""The pages: the range a device page opens on, and pages without live content."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import cli
from tests.factories import T0, FakeClock, add_device, bearer, make_settings
from tests.servers import run_live_server


def readings_since(client: TestClient, token: str, ago: timedelta, now: datetime) -> None:
    """A reading every five minutes from `ago` before now until now."""
    batch, at = [], now - ago
    while at <= now:
        batch.append({"measured_at": at.isoformat(), "values": {"temperature": 20.0}})
        at += timedelta(minutes=5)
    answer = client.post(
        "/api/v1/measurements/batch", json={"measurements": batch}, headers=bearer(token)
    )
    assert answer.status_code == 201, answer.text


def current_range(html: str) -> str:
    match = re.search(r'<a href="\?range=(\w+)"[^>]*aria-current="true"', html)
    assert match, "no range is marked as the current one"
    return match.group(1)


@pytest.mark.parametrize(
    ("data_for", "expected"),
    [
        (timedelta(minutes=10), "1h"),
        (timedelta(hours=3), "6h"),
        (timedelta(hours=20), "24h"),
        (timedelta(days=3), "24h"),  # at most a day, however much there is
    ],
)
def test_a_device_page_opens_on_the_smallest_range_that_shows_its_data(
    make_app: Callable[..., FastAPI], data_for: timedelta, expected: str
) -> None:
    clock = FakeClock(T0)
    app = make_app(clock=clock)
    with TestClient(app) as client:
        token = add_device(app, "greenhouse")
        readings_since(client, token, data_for, T0)
        page = client.get("/devices/greenhouse")
        assert page.status_code == 200
        assert current_range(page.text) == expected
        assert f'data-range="{expected}"' in page.text  # the page writes it into the address


def test_a_range_in_the_address_is_kept(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(clock=FakeClock(T0))
    with TestClient(app) as client:
        token = add_device(app, "greenhouse")
        readings_since(client, token, timedelta(minutes=10), T0)
        assert current_range(client.get("/devices/greenhouse?range=7d").text) == "7d"


def test_a_device_without_readings_opens_on_a_day(client: TestClient) -> None:
    add_device(client.app, "greenhouse")  # type: ignore[arg-type]
    assert current_range(client.get("/devices/greenhouse").text) == "24h"


def test_a_page_without_live_content_has_no_stream_and_no_connection_state(
    client: TestClient,
) -> None:
    page = client.get("/devices/nobody")
    assert page.status_code == 404
    assert "sse-connect" not in page.text
    assert 'id="connection"' not in page.text
    assert "Connecting" not in page.text
    overview = client.get("/")
    assert 'sse-connect="/events?topic=overview"' in overview.text
    assert 'id="connection"' in overview.text


def test_a_device_silent_for_days_opens_on_a_range_that_shows_its_last_readings(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(clock=FakeClock(T0))
    with TestClient(app) as client:
        token = add_device(app, "shed")
        readings_since(client, token, timedelta(hours=2), T0 - timedelta(days=3))
        assert current_range(client.get("/devices/shed").text) == "7d"


def test_a_name_in_another_case_leads_to_the_device(client: TestClient) -> None:
    add_device(client.app, "Greenhouse")  # type: ignore[arg-type]
    answer = client.get("/devices/GREENHOUSE?range=1h", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"].endswith("/devices/Greenhouse?range=1h")
    assert client.get("/devices/greenhouse").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "to=0001-01-01T00:00:00Z",
        "from=0001-01-01T00:00:00%2B01:00&to=2026-01-01T00:00:00Z",
        "to=9999-12-31T23:59:59-01:00",
        "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "from=2026-01-01T00:00:00",
    ],
)
def test_a_range_that_is_not_one_is_a_clear_refusal(client: TestClient, query: str) -> None:
    add_device(client.app, "greenhouse")  # type: ignore[arg-type]
    answer = client.get(f"/devices/greenhouse?{query}")
    assert answer.status_code == 400
    assert "A chosen range needs “from” before “to”" in answer.text


def test_behind_a_proxy_the_other_case_leads_under_the_root_path(sqlite_url: str) -> None:
    with run_live_server(make_settings(sqlite_url), root_path="/dash") as server:
        add_device(server.app, "Greenhouse")
        # The proxy strips /dash before the request reaches the server.
        answer = httpx.get(server.url + "/devices/GREENHOUSE?range=1h")
        assert answer.status_code == 307
        assert answer.headers["location"] == server.url + "/dash/devices/Greenhouse?range=1h"


def test_a_device_page_charts_readings_another_process_stored(
    sqlite_url: str, tmp_path: Path
) -> None:
    with run_live_server(make_settings(sqlite_url)) as server:
        add_device(server.app, "attic")
        csv = tmp_path / "attic.csv"
        now = datetime.now(UTC).isoformat()
        csv.write_text(f"time,temperature,humidity\n{now},21.5,40.2\n")
        # Another process: the live views hear nothing of these readings.
        assert cli.main(["import", "attic", str(csv)], {"TELEMETRY_DATABASE_URL": sqlite_url}) == 0
        page = httpx.get(server.url + "/devices/attic").text
        assert 'data-quantity="humidity"' in page and 'data-quantity="temperature"' in page
