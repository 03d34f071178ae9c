"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.conftest import AppFactory
from tests.factories import T0, FakeClock, add_device, bearer


def test_healthz_answers_while_the_process_runs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}


def test_readyz_is_ok_when_the_database_answers(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_does_not(make_app: AppFactory, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the database directory should be")
    with TestClient(make_app(database_url=f"sqlite:///{blocked}/telemetry.db")) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert "Retry-After" in response.headers
        assert client.get("/healthz").status_code == 200


def test_readyz_is_503_when_the_database_server_is_down(make_app: AppFactory) -> None:
    with TestClient(
        make_app(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    ) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "unreachable" in response.json()["detail"]


class FullDisk:
    """A database that cannot grow while `full`: SQLite's max_page_count at its size.

    Applied whenever a connection is checked out of the pool, reused or new (the writer
    checks out a fresh one after a failed write), so clearing `full` is the disk
    getting space back.
    """

    def __init__(self) -> None:
        self.full = False

    def __call__(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if self.full:
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        else:
            pages = 1 << 30  # far beyond anything a test writes
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")


def batch(start: int) -> dict[str, Any]:
    """500 readings: more than the database's free pages hold."""
    return {
        "measurements": [
            {
                "measured_at": (T0 + timedelta(seconds=start + i)).isoformat(),
                "values": {"temperature": 20.0, "humidity": 50.0, "pressure": 1000.0},
            }
            for i in range(500)
        ]
    }


def test_readyz_is_503_while_the_disk_is_full_and_200_once_writes_work(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.telemetry")
    app = make_app(clock=FakeClock(T0 + timedelta(hours=1)), metrics_public=True)
    disk = FullDisk()
    disk.full = True
    event.listen(app.state.services.engine, "checkout", disk)
    with TestClient(app) as client:
        token = add_device(app, "greenhouse")  # a row fits in a page the database has
        assert client.get("/readyz").status_code == 200
        for _ in range(2):
            refused = client.post(
                "/api/v1/measurements/batch", json=batch(0), headers=bearer(token)
            )
            assert refused.status_code == 503
            assert "disk is full" in refused.json()["detail"]

        assert "telemetry_writes_refused 1.0" in client.get("/metrics").text
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "disk is full" in ready.json()["detail"]
        assert ready.json()["status"] == "unavailable"
        assert "Retry-After" in ready.headers

        disk.full = False  # space is freed: the next write commits, and readiness follows
        stored = client.post("/api/v1/measurements/batch", json=batch(0), headers=bearer(token))
        assert stored.status_code == 201
        assert client.get("/readyz").status_code == 200
        assert "telemetry_writes_refused 0.0" in client.get("/metrics").text
    # One line when the writes started failing, one when they worked again.
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("app.telemetry")]
    assert len([m for m in messages if m.startswith("cannot store readings")]) == 1
    assert len([m for m in messages if m.startswith("storing readings again")]) == 1


def test_metrics_count_commits_values_and_refusals(make_app: AppFactory) -> None:
    with TestClient(make_app(metrics_public=True)) as client:
        _count_commits_values_and_refusals(client)


def _count_commits_values_and_refusals(client: TestClient) -> None:
    token = add_device(client.app, "greenhouse")  # type: ignore[arg-type]
    client.post(
        "/api/v1/measurements", json={"values": {"t": 1.0, "u": 2.0}}, headers=bearer(token)
    )
    client.post("/api/v1/measurements", json={"values": {"t": 1.0}}, headers=bearer("tlm_x"))
    text = client.get("/metrics").text
    assert "telemetry_values_stored_total 2.0" in text
    assert "telemetry_commits_total 1.0" in text
    assert "telemetry_unauthenticated_total 1.0" in text
    assert "telemetry_write_queue_depth 0.0" in text


def test_the_openapi_document_lists_every_ingest_answer(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path in ("/api/v1/measurements", "/api/v1/measurements/batch"):
        operation = document["paths"][path]["post"]
        assert set(operation["responses"]) == {
            "200", "201", "400", "401", "413", "415", "422", "429", "503"
        }  # fmt: skip
        assert operation["security"] == [{"DeviceToken": []}]
        schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert schema_ref.rsplit("/", 1)[1] in document["components"]["schemas"]
        assert "Retry-After" in operation["responses"]["429"]["headers"]
        assert "RateLimit-Policy" in operation["responses"]["201"]["headers"]
    assert document["components"]["securitySchemes"]["DeviceToken"]["scheme"] == "bearer"
    assert "404" in document["paths"]["/api/v1/devices/{name}"]["get"]["responses"]
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]
