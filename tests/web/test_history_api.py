"""The history reads' refusals, each in its documented shape, and their CSV downloads' names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from fastapi.testclient import TestClient

from app.telemetry.devices import DEVICE_NAME_RULE
from tests.conftest import AppFactory
from tests.factories import FakeClock, add_device, bearer

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
READS = ("series", "series.csv", "raw.csv")


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app(clock=FakeClock(NOW), max_series_points=1000)) as test_client:
        yield test_client


def store(client: TestClient, name: str) -> None:
    """Register `name` and store one temperature a minute before NOW."""
    token = add_device(client.app, name)  # type: ignore[arg-type]
    body = {"measured_at": (NOW - timedelta(minutes=1)).isoformat(), "values": {"temperature": 20}}
    response = client.post("/api/v1/measurements", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text


def read(client: TestClient, path: str, name: str = "greenhouse", **params: Any) -> Any:
    query = {"quantity": "temperature", **params}
    return client.get(f"/api/v1/devices/{quote(name, safe='')}/{path}", params=query)


def only_error(response: Any) -> dict[str, Any]:
    """The one error of a 422 in the validation shape, checked to have exactly that shape."""
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert set(error) == {"loc", "msg", "type"}
    return dict(error)


@pytest.mark.parametrize("path", READS)
def test_a_name_no_device_can_have_is_a_404_saying_why(client: TestClient, path: str) -> None:
    response = read(client, path, name="green\x01house")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "no device has that name: a device name cannot contain control characters "
        f"(U+0001): {DEVICE_NAME_RULE}; got 'green\\x01house'"
    }


def test_a_name_no_device_can_have_is_a_404_for_the_device_too(client: TestClient) -> None:
    response = client.get("/api/v1/devices/" + quote("a\x00b", safe=""))
    assert response.status_code == 404
    assert "control characters" in response.json()["detail"]


@pytest.mark.parametrize("path", READS)
def test_a_malformed_quantity_is_refused_naming_the_parameter(
    client: TestClient, path: str
) -> None:
    store(client, "greenhouse")
    error = only_error(read(client, path, quantity="Temperature"))
    assert error["loc"] == ["query", "quantity"]
    assert error["type"] == "string_pattern_mismatch"


@pytest.mark.parametrize("path", ["series", "series.csv"])
def test_max_points_is_taken_up_to_the_setting_and_refused_past_it(
    client: TestClient, path: str
) -> None:
    store(client, "greenhouse")
    assert read(client, path, max_points=1000).status_code == 200
    error = only_error(read(client, path, max_points=1001))
    assert error == {
        "loc": ["query", "max_points"],
        "msg": "max_points is at most 1000 (TELEMETRY_MAX_SERIES_POINTS)",
        "type": "less_than_equal",
    }


@pytest.mark.parametrize("path", READS)
def test_a_range_ending_before_it_starts_is_refused_at_to(client: TestClient, path: str) -> None:
    store(client, "greenhouse")
    params = {"from": NOW.isoformat(), "to": (NOW - timedelta(hours=1)).isoformat()}
    error = only_error(read(client, path, **params))
    assert error == {
        "loc": ["query", "to"],
        "msg": "`to` must be after `from`",
        "type": "range_invalid",
    }


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize(
    ("key", "moment"), [("from", "1999-12-31T23:59:59Z"), ("to", "2028-01-01T00:00:00Z")]
)
def test_a_time_outside_what_is_ever_stored_is_refused_naming_it(
    client: TestClient, path: str, key: str, moment: str
) -> None:
    store(client, "greenhouse")
    error = only_error(read(client, path, **{key: moment}))
    assert error["loc"] == ["query", key]
    assert "between 2000-01-01 and a year from now" in error["msg"]


def test_a_raw_export_spans_31_days_and_no_more(client: TestClient) -> None:
    store(client, "greenhouse")
    month = {"to": NOW.isoformat(), "from": (NOW - timedelta(days=31)).isoformat()}
    assert read(client, "raw.csv", **month).status_code == 200
    longer = {**month, "from": (NOW - timedelta(days=31, seconds=1)).isoformat()}
    error = only_error(read(client, "raw.csv", **longer))
    assert error["loc"] == ["query", "from"] and error["type"] == "range_too_long"


def test_a_query_framework_error_has_the_same_shape_without_echoing_the_input(
    client: TestClient,
) -> None:
    error = only_error(read(client, "series", max_points="many"))
    assert error["loc"] == ["query", "max_points"]
    assert "many" not in error["msg"]


@pytest.mark.parametrize(("path", "kind"), [("series.csv", "buckets"), ("raw.csv", "raw")])
def test_a_download_is_named_by_rfc_6266_whatever_the_device_name(
    client: TestClient, path: str, kind: str
) -> None:
    name = 'Gärtnerei "Süd" 温室'
    store(client, name)
    response = read(client, path, name=name)
    assert response.status_code == 200
    header = response.headers["content-disposition"]
    assert header.isascii(), "a header carries ASCII; the exact name is percent-encoded"
    # Split by hand: Python's email package prefers `filename` to `filename*`, the
    # opposite of RFC 6266. Neither value can hold a `;`: that is the point of them.
    disposition, *pairs = (part.strip() for part in header.split(";"))
    params = dict(pair.split("=", 1) for pair in pairs)
    assert disposition == "attachment" and set(params) == {"filename", "filename*"}
    charset, _, encoded = params["filename*"].partition("''")
    assert charset == "UTF-8"
    assert unquote(encoded, errors="strict") == f"{name}-temperature-{kind}.csv"
    assert params["filename"] == f'"G_rtnerei__S_d____-temperature-{kind}.csv"'


def test_a_read_while_the_database_cannot_be_opened_is_a_503_with_retry_after(
    make_app: AppFactory, sqlite_url: str, tmp_path: Path
) -> None:
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    with TestClient(make_app()) as client:
        add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        engine = client.app.state.services.engine  # type: ignore[attr-defined]
        engine.dispose()  # new connections, which find a directory where the file was
        database.rename(tmp_path / "moved.db")
        database.mkdir()
        try:
            response = client.get("/api/v1/devices/greenhouse")
        finally:
            database.rmdir()
            (tmp_path / "moved.db").rename(database)
            engine.dispose()
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        detail = response.json()["detail"]
        assert detail.endswith(f"; retry in {response.headers['Retry-After']} s")
        assert "nothing was stored" not in detail, "a read stores nothing anyway"
        assert client.get("/api/v1/devices/greenhouse").status_code == 200
