"""The OpenAPI document of one app: what FastAPI infers from the routes, and what it cannot.

FastAPI builds every operation from its route. Added here:

- the request bodies of the ingest routes, which read their bodies by hand (ingest.py),
  and the device-token security scheme;
- the bounds that are settings, and so differ from app to app: values per measurement,
  measurements per batch, `max_points`, and (in words, being relative to the clock) how
  old or new a `measured_at` may be;

and taken away: `null` as a value of an optional query parameter (a query string has
none: the parameter is absent and takes its default), and FastAPI's default 422 answer
(`HTTPValidationError`). Every route that can answer 422 states it in the one validation
shape (errors.py), and a route that cannot answer 422 does not claim it; the Schemathesis
run (tests/web/test_openapi_contract.py) fails on any answer the document does not state.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from app.config import Settings
from app.web import ingest
from app.web.deps import BEARER_SCHEME

_DEFAULT_422 = "#/components/schemas/HTTPValidationError"


def build_document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The document `app` serves at /openapi.json, with `settings`' bounds stated."""
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    components["securitySchemes"] = BEARER_SCHEME
    schemas = components.setdefault("schemas", {})
    for model in ingest.OPENAPI_BODY_MODELS:
        model_schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(model_schema.pop("$defs", {}))
        schemas[model.__name__] = model_schema
    _state_body_bounds(schemas, settings)
    _state_parameter_bounds(document["paths"], settings)
    _drop_null_from_parameters(document["paths"])
    _drop_default_validation_answer(document)
    return document


def _state_body_bounds(schemas: dict[str, Any], settings: Settings) -> None:
    measurement = schemas["MeasurementIn"]["properties"]
    measurement["values"]["maxProperties"] = settings.max_values_per_measurement
    measurement["measured_at"]["description"] += (
        f" Here: at most {settings.raw_retention_days} days old "
        f"(TELEMETRY_RAW_RETENTION_DAYS) and {settings.future_tolerance_seconds} s ahead "
        "(TELEMETRY_FUTURE_TOLERANCE_SECONDS)."
    )
    schemas["BatchIn"]["properties"]["measurements"]["maxItems"] = settings.max_batch_size


def _state_parameter_bounds(paths: dict[str, Any], settings: Settings) -> None:
    maxima = {"max_points": (settings.max_series_points, "TELEMETRY_MAX_SERIES_POINTS")}
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                bound = maxima.get(parameter["name"])
                if bound is not None:
                    parameter["schema"]["maximum"] = bound[0]
                    parameter["description"] = (
                        f"{parameter.get('description', '')} At most {bound[0]} ({bound[1]})."
                    ).strip()


def _drop_null_from_parameters(paths: dict[str, Any]) -> None:
    # FastAPI states an optional parameter as "string or null"; a query string has no
    # null: the parameter is there, or absent and defaulted.
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
                if len(branches) == 1 and len(schema["anyOf"]) == 2:
                    del schema["anyOf"]
                    schema.update(branches[0])


def _drop_default_validation_answer(document: dict[str, Any]) -> None:
    for operations in document["paths"].values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == _DEFAULT_422:
                del operation["responses"]["422"]
    schemas = document["components"]["schemas"]
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
