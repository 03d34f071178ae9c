"""POST /api/v1/measurements[/batch]: what is stored, and every refusal with its reason."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.factories import FakeClock, add_device, bearer

SINGLE = "/api/v1/measurements"
BATCH = "/api/v1/measurements/batch"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def client(make_app: AppFactory, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(make_app(clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def token(client: TestClient) -> str:
    return add_device(client.app, "greenhouse")  # type: ignore[arg-type]


def stamp(seconds: float = 0) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def stored(client: TestClient) -> list[tuple[str, str, float]]:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    query = sa.text(
        "SELECT d.name, s.quantity, m.value FROM measurements m JOIN series s ON s.id = "
        "m.series_id JOIN devices d ON d.id = s.device_id ORDER BY d.name, s.quantity, m.value"
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def post(client: TestClient, token: str, body: Any, path: str = SINGLE) -> Any:
    return client.post(path, json=body, headers=bearer(token))


def test_a_measurement_is_stored_and_counted(client: TestClient, token: str) -> None:
    response = post(
        client, token, {"measured_at": stamp(), "values": {"temperature": 21.5, "humidity": 40.2}}
    )
    assert response.status_code == 201
    assert response.json() == {"stored": 2, "duplicates": 0}
    assert stored(client) == [("greenhouse", "humidity", 40.2), ("greenhouse", "temperature", 21.5)]


def test_a_resend_is_answered_200_and_stored_once(client: TestClient, token: str) -> None:
    body = {"measured_at": stamp(), "values": {"temperature": 21.5}}
    assert post(client, token, body).status_code == 201
    again = post(client, token, {**body, "values": {"temperature": 30.0}})
    assert again.status_code == 200
    assert again.json() == {"stored": 0, "duplicates": 1}
    assert stored(client) == [("greenhouse", "temperature", 21.5)]


def test_a_measurement_without_time_takes_the_server_time(
    client: TestClient, token: str, clock: FakeClock
) -> None:
    assert post(client, token, {"values": {"temperature": 21.5}}).status_code == 201
    latest = client.get("/api/v1/devices/greenhouse").json()["latest"]["temperature"]
    assert latest["measured_at"] == stamp()


def test_a_batch_is_stored_whole(client: TestClient, token: str) -> None:
    body = {
        "measurements": [
            {"measured_at": stamp(-i), "values": {"temperature": 20 + i}} for i in range(5)
        ]
    }
    response = post(client, token, body, BATCH)
    assert response.status_code == 201
    assert response.json() == {"stored": 5, "duplicates": 0}
    assert len(stored(client)) == 5


def test_a_batch_with_one_bad_reading_stores_nothing(client: TestClient, token: str) -> None:
    measurements = [{"measured_at": stamp(-i), "values": {"temperature": 20.0}} for i in range(5)]
    measurements[3]["values"] = {"temperature": 400.0}
    response = post(client, token, {"measurements": measurements}, BATCH)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "measurements", 3, "values", "temperature"]
    assert "plausible range -90..150" in error["msg"]
    assert stored(client) == []


def test_a_batch_over_the_limit_is_refused_naming_the_limit(
    make_app: AppFactory, clock: FakeClock
) -> None:
    with TestClient(make_app(clock=clock, max_batch_size=3)) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        body = {"measurements": [{"values": {"temperature": 1.0}}] * 4}
        response = post(client, token, body, BATCH)
        assert response.status_code == 422
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "measurements"]
        assert "at most 3" in error["msg"]
        assert (
            post(client, token, {"measurements": body["measurements"][:3]}, BATCH).status_code
            == 201
        )


def test_every_problem_is_reported_at_once(client: TestClient, token: str) -> None:
    body = {
        "measurements": [
            {"measured_at": stamp(), "values": {"temperature": 200.0, "humidity": -1.0}},
            {"measured_at": "2026-11-21T10:00:00", "values": {"pressure": 1000.0}},
        ]
    }
    locations = [e["loc"] for e in post(client, token, body, BATCH).json()["detail"]]
    assert locations == [
        ["body", "measurements", 0, "values", "temperature"],
        ["body", "measurements", 0, "values", "humidity"],
        ["body", "measurements", 1, "measured_at"],
    ]


@pytest.mark.parametrize(
    ("raw_body", "location", "message"),
    [
        ('{"values": {"temperature": NaN}}', ["body", "values", "temperature"], "finite"),
        ('{"values": {"temperature": Infinity}}', ["body", "values", "temperature"], "finite"),
        ('{"values": {"temperature": -Infinity}}', ["body", "values", "temperature"], "finite"),
        ('{"values": {"temperature": 1e999}}', ["body", "values", "temperature"], "finite"),
        (
            '{"values": {"temperature": "21.5"}}',
            ["body", "values", "temperature"],
            "must be a number",
        ),
        (
            '{"values": {"temperature": true}}',
            ["body", "values", "temperature"],
            "must be a number",
        ),
        (
            '{"values": {"temperature": null}}',
            ["body", "values", "temperature"],
            "must be a number",
        ),
        ('{"values": {"humidity": 100.5}}', ["body", "values", "humidity"], "0..100 %RH"),
        ('{"values": {"Bad Name": 1}}', ["body", "values", "Bad Name"], "must match"),
        ('{"values": {}}', ["body", "values"], "at least 1"),
        ('{"values": [1, 2]}', ["body", "values"], "object"),
        (
            '{"measured_at": "2026-11-21T10:00:00", "values": {"t": 1}}',
            ["body", "measured_at"],
            "time zone",
        ),
        ('{"measured_at": "yesterday", "values": {"t": 1}}', ["body", "measured_at"], "RFC 3339"),
        ('{"measured_at": 1763719200, "values": {"t": 1}}', ["body", "measured_at"], "RFC 3339"),
        (
            '{"measured_at": "2026-11-21T10:05:01Z", "values": {"t": 1}}',
            ["body", "measured_at"],
            "ahead of the server clock",
        ),
        (
            '{"measured_at": "1970-01-01T00:00:10Z", "values": {"t": 1}}',
            ["body", "measured_at"],
            "before 2000",
        ),
        (
            '{"measured_at": "2026-10-22T09:59:59Z", "values": {"t": 1}}',
            ["body", "measured_at"],
            "more than 30 days old",
        ),
        ('{"values": {"t": 1}, "device": "other"}', ["body", "device"], "not a known field"),
        ("[]", ["body"], "object"),
        (
            '{"measured_at": "0001-01-01T00:00:00+01:00", "values": {"t": 1}}',
            ["body", "measured_at"],
            "out of range",
        ),
        (
            '{"measured_at": "9999-12-31T23:59:59-01:00", "values": {"t": 1}}',
            ["body", "measured_at"],
            "out of range",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    client: TestClient, token: str, raw_body: str, location: list[Any], message: str
) -> None:
    response = client.post(
        SINGLE, content=raw_body, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"] == location and message in e["msg"] for e in errors), errors
    assert stored(client) == []


def test_a_reading_just_inside_the_raw_retention_is_accepted(
    client: TestClient, token: str
) -> None:
    body = {"measured_at": "2026-10-22T10:00:00Z", "values": {"t": 1.0}}  # now - 30 days
    assert post(client, token, body).status_code == 201


def test_a_time_just_inside_the_tolerance_is_accepted(client: TestClient, token: str) -> None:
    assert post(client, token, {"measured_at": stamp(299), "values": {"t": 1.0}}).status_code == 201


def test_a_time_zone_other_than_utc_is_accepted(client: TestClient, token: str) -> None:
    body = {"measured_at": "2026-11-21T11:00:00+01:00", "values": {"t": 1.0}}
    assert post(client, token, body).status_code == 201
    latest = client.get("/api/v1/devices/greenhouse").json()["latest"]["t"]
    assert latest["measured_at"] == stamp()


def test_too_many_values_in_one_measurement_are_refused(
    make_app: AppFactory, clock: FakeClock
) -> None:
    with TestClient(make_app(clock=clock, max_values_per_measurement=2)) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        response = post(client, token, {"values": {"a": 1.0, "b": 2.0, "c": 3.0}})
        assert response.status_code == 422
        assert "at most 2 values" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("raw_body", "message"),
    [("{not json", "not valid JSON"), ("", "empty"), ('{"values": ', "not valid JSON")],
)
def test_malformed_json_is_a_400_that_says_so(
    client: TestClient, token: str, raw_body: str, message: str
) -> None:
    response = client.post(
        SINGLE, content=raw_body, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_a_body_that_is_not_json_is_a_415(client: TestClient, token: str) -> None:
    response = client.post(
        SINGLE, content="temperature=21", headers={**bearer(token), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_the_media_type_is_matched_without_regard_to_case(client: TestClient, token: str) -> None:
    response = client.post(
        SINGLE,
        content=json.dumps({"values": {"t": 1.0}}),
        headers={**bearer(token), "Content-Type": "Application/JSON; charset=UTF-8"},
    )
    assert response.status_code == 201


def test_a_body_without_content_type_is_taken_as_json(client: TestClient, token: str) -> None:
    response = client.post(
        SINGLE, content=json.dumps({"values": {"t": 1.0}}), headers=bearer(token)
    )
    assert response.status_code == 201


def test_a_declared_oversized_body_is_a_413(make_app: AppFactory) -> None:
    with TestClient(make_app(max_body_bytes=2048)) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        body = {"measurements": [{"values": {"temperature": 21.5}}] * 200}
        response = post(client, token, body, BATCH)
        assert response.status_code == 413
        assert "larger than 2048 bytes" in response.json()["detail"]
        assert stored(client) == []


def test_a_streamed_oversized_body_is_a_413(make_app: AppFactory) -> None:
    with TestClient(make_app(max_body_bytes=2048)) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]

        def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
            yield b'{"measurements": ['
            for _ in range(200):
                yield b'{"values": {"temperature": 21.5}},'
            yield b'{"values": {"temperature": 21.5}}]}'

        response = client.post(
            BATCH, content=chunks(), headers={**bearer(token), "Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert stored(client) == []


def test_without_a_token_the_answer_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.post(SINGLE, json={"values": {"t": 1.0}})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="telemetry"'
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize("header", ["Bearer tlm_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer "])
def test_a_wrong_token_is_a_401(client: TestClient, token: str, header: str) -> None:
    response = client.post(SINGLE, json={"values": {"t": 1.0}}, headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_a_401(client: TestClient, token: str) -> None:
    client.app.state.services.devices.revoke("greenhouse")  # type: ignore[attr-defined]
    response = post(client, token, {"values": {"t": 1.0}})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "revoked" in response.json()["detail"]


def test_the_device_comes_from_the_token(client: TestClient, token: str) -> None:
    other = add_device(client.app, "shed")  # type: ignore[arg-type]
    post(client, other, {"measured_at": stamp(), "values": {"temperature": 5.0}})
    post(client, token, {"measured_at": stamp(), "values": {"temperature": 21.0}})
    assert stored(client) == [("greenhouse", "temperature", 21.0), ("shed", "temperature", 5.0)]


def test_a_locked_database_is_a_503_with_retry_after(make_app: AppFactory, sqlite_url: str) -> None:
    with TestClient(make_app(sqlite_busy_timeout_ms=50)) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            response = post(client, token, {"values": {"t": 1.0}})
        finally:
            blocker.rollback()
            blocker.close()
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert "nothing was stored" in response.json()["detail"]
        assert stored(client) == []
        assert post(client, token, {"values": {"t": 1.0}}).status_code == 201


def test_a_full_database_is_a_503_with_retry_after(make_app: AppFactory) -> None:
    app = make_app()
    engine = app.state.services.engine

    @sa.event.listens_for(engine, "connect")
    def cap_size(dbapi_connection: Any, _: Any) -> None:
        # SQLite's own size cap: the same SQLITE_FULL a full disk gives.
        page_count = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {page_count}")

    engine.dispose()
    with TestClient(app) as client:
        token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
        body = {
            "measurements": [{"measured_at": stamp(-i), "values": {"t": 1.0}} for i in range(1000)]
        }
        response = client.post(BATCH, json=body, headers=bearer(token))
        assert response.status_code == 503
        assert "full" in response.json()["detail"]
        assert int(response.headers["Retry-After"]) >= 1
