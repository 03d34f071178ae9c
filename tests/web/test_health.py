"""Liveness, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import AppFactory
from tests.factories import add_device, bearer


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


def test_metrics_count_commits_values_and_refusals(client: TestClient) -> None:
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


def test_the_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()
