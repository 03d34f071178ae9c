"""GET /api/v1/devices and /api/v1/devices/{name}."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.factories import add_device, bearer


def post(client: TestClient, token: str, at: str, **values: float) -> None:
    response = client.post(
        "/api/v1/measurements", json={"measured_at": at, "values": values}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text


def test_a_device_shows_its_latest_value_per_quantity_with_units(client: TestClient) -> None:
    token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    post(client, token, f"{day}T10:00:00Z", temperature=20.0, humidity=50.0)
    post(client, token, f"{day}T10:01:00Z", temperature=21.0)
    post(client, token, f"{day}T09:00:00Z", temperature=5.0, soil=3.0)  # older: not latest
    device = client.get("/api/v1/devices/greenhouse").json()
    assert device["name"] == "greenhouse" and device["revoked"] is False
    assert device["last_seen_at"] is not None
    assert device["latest"] == {
        "humidity": {"value": 50.0, "unit": "%RH", "measured_at": f"{day}T10:00:00Z"},
        "soil": {"value": 3.0, "unit": None, "measured_at": f"{day}T09:00:00Z"},
        "temperature": {"value": 21.0, "unit": "°C", "measured_at": f"{day}T10:01:00Z"},
    }


def test_a_new_device_has_no_values_and_was_never_seen(client: TestClient) -> None:
    add_device(client.app, "greenhouse")  # type: ignore[arg-type]
    device = client.get("/api/v1/devices/greenhouse").json()
    assert device["latest"] == {} and device["last_seen_at"] is None


def test_an_unknown_device_is_a_404_naming_it(client: TestClient) -> None:
    response = client.get("/api/v1/devices/ghost")
    assert response.status_code == 404
    assert "ghost" in response.json()["detail"]


def test_names_with_any_characters_round_trip_as_json(client: TestClient) -> None:
    name = "<img src=x onerror=alert(1)>"
    add_device(client.app, name)  # type: ignore[arg-type]
    response = client.get("/api/v1/devices/" + quote(name, safe=""))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["name"] == name


def test_the_list_pages_through_devices_in_name_order(client: TestClient) -> None:
    for i in range(5):
        add_device(client.app, f"dev-{i}")  # type: ignore[arg-type]
    first = client.get("/api/v1/devices", params={"limit": 2}).json()
    assert [d["name"] for d in first["devices"]] == ["dev-0", "dev-1"]
    assert first["next_after"] == "dev-1"
    rest = client.get("/api/v1/devices", params={"limit": 10, "after": first["next_after"]}).json()
    assert [d["name"] for d in rest["devices"]] == ["dev-2", "dev-3", "dev-4"]
    assert rest["next_after"] is None


def test_the_page_size_is_bounded(client: TestClient) -> None:
    response = client.get("/api/v1/devices", params={"limit": 100_000})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_a_page_cursor_with_a_control_character_is_refused_naming_it(client: TestClient) -> None:
    response = client.get("/api/v1/devices", params={"after": "dev\x00"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "after"] and error["type"] == "string_pattern_mismatch"
