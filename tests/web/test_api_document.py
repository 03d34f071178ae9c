"""The OpenAPI document states the rules the server enforces, with this app's own bounds."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.telemetry import KNOWN_QUANTITIES
from app.telemetry import QUANTITY_NAME_PATTERN as NAME_PATTERN
from tests.conftest import AppFactory

REF = "#/components/schemas/"


def document_of(make_app: AppFactory, **settings: Any) -> dict[str, Any]:
    with TestClient(make_app(**settings)) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def body_schema(answer: dict[str, Any]) -> str:
    """The component an answer's JSON body refers to, or '' for another media type."""
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).removeprefix(REF)


def api_operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method, operation in operations.items()
    ]


def test_the_bounds_that_are_settings_are_this_apps_own(make_app: AppFactory) -> None:
    document = document_of(
        make_app,
        max_series_points=777,
        max_batch_size=12,
        max_values_per_measurement=5,
        raw_retention_days=9,
    )
    for path in ("series", "series.csv"):
        parameters = document["paths"][f"/api/v1/devices/{{name}}/{path}"]["get"]["parameters"]
        (max_points,) = [p for p in parameters if p["name"] == "max_points"]
        assert max_points["schema"]["minimum"] == 1 and max_points["schema"]["maximum"] == 777
    schemas = document["components"]["schemas"]
    assert schemas["BatchIn"]["properties"]["measurements"]["maxItems"] == 12
    measurement = schemas["MeasurementIn"]["properties"]
    assert measurement["values"]["maxProperties"] == 5
    assert "at most 9 days old" in measurement["measured_at"]["description"]


def test_quantity_names_and_plausible_ranges_are_stated_from_the_table(
    make_app: AppFactory,
) -> None:
    values = document_of(make_app)["components"]["schemas"]["MeasurementIn"]["properties"]["values"]
    assert values["propertyNames"] == {"pattern": NAME_PATTERN.pattern}
    assert {name: (v["minimum"], v["maximum"]) for name, v in values["properties"].items()} == {
        q.name: (q.minimum, q.maximum) for q in KNOWN_QUANTITIES.values()
    }
    assert values["additionalProperties"]["type"] == "number"


def test_every_422_is_the_validation_list_and_every_other_refusal_a_message(
    make_app: AppFactory,
) -> None:
    document = document_of(make_app)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for label, operation in api_operations(document):
        for status, answer in operation["responses"].items():
            if status == "422":
                assert body_schema(answer) == "ValidationErrorOut", label
            elif status == "429":
                assert body_schema(answer) == "RateLimitedOut", label
            elif status.startswith(("4", "5")):
                assert body_schema(answer) == "ErrorOut", (label, status)


def test_every_read_states_its_404_and_that_the_database_may_be_unavailable(
    make_app: AppFactory,
) -> None:
    for label, operation in api_operations(document_of(make_app)):
        answers = operation["responses"]
        assert "Retry-After" in answers["503"]["headers"], label
        if label == "POST /api/v1/devices/{name}/notes":
            # A note on a device that is not there is a 422 naming the field (issue 11).
            assert "404" not in answers and "path" in answers["422"]["description"], label
        elif "{name}" in label:
            assert "404" in answers, label
    device = document_of(make_app)["paths"]["/api/v1/devices/{name}"]["get"]
    assert "422" not in device["responses"], "nothing about a device's name is a 422"


def test_an_optional_query_parameter_is_never_null(make_app: AppFactory) -> None:
    for label, operation in api_operations(document_of(make_app)):
        for parameter in operation.get("parameters", []):
            assert "anyOf" not in parameter["schema"], (label, parameter["name"])
