"""POST /api/v1/measurements and /api/v1/measurements/batch.

Order of work, cheapest refusal first: rate limits and token (authenticate_device,
before any body byte is read), media type, body size (413 from the
declared length or while streaming), JSON shape and domain rules (400/422, nothing
stored), then the group-commit writer (answer after commit, 503 if the database
cannot take it).

Both routes are answered by IngestRoutes, a pure ASGI middleware, ahead of FastAPI's
exception handling, exit stacks, routing and endpoint wrapper: those layers cost a
request about as much as storing its readings does (docs/benchmarks.md), and these two
routes take nearly every request the server gets. The routes stay registered, with
the same endpoint functions, so that the OpenAPI document describes them; refusals get
the same handlers as everywhere else (errors.ERROR_HANDLERS).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from app.telemetry import DeviceRef, Reading, ReadingRules
from app.web.api_models import BatchIn, MeasurementIn, RateLimitedOut, RecordOut
from app.web.deps import BEARER_SCHEME, Services, authenticate_device, services_of
from app.web.errors import (
    RETRY_AFTER,
    BodyTooLarge,
    UnsupportedMediaType,
    handler_for,
    invalid,
    refusal,
)
from app.web.payloads import IngestRules, MalformedBody, parse_batch, parse_single
from app.web.ratelimit import rate_limit_headers

# Absent while a limit is `none` or its storage is unreachable (ratelimit.py).
_RATE_HEADERS: dict[str, Any] = {
    "RateLimit-Policy": {
        "description": 'The limits that apply, e.g. `"ip";q=1200;w=60, "device";q=120;w=60`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'Requests remaining and seconds to reset, e.g. `"device";r=119;t=60`.',
        "schema": {"type": "string"},
    },
}
_CHALLENGE: dict[str, Any] = {
    "WWW-Authenticate": {
        "description": 'The scheme to use: `Bearer realm="telemetry"`.',
        "required": True,
        "schema": {"type": "string"},
    }
}


def _documented(answer: dict[str, Any], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**answer, "headers": {**_RATE_HEADERS, **(headers or {})}}


def _stored(description: str) -> dict[str, Any]:
    return _documented({"model": RecordOut, "description": description})


INGEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _stored("Every value was already stored: nothing new."),
    201: _stored("Stored and committed; `duplicates` counts values already present."),
    400: _documented(refusal("The body is empty or not JSON.")),
    401: _documented(refusal("The bearer token is missing, unknown or revoked."), _CHALLENGE),
    413: _documented(refusal("The body is larger than TELEMETRY_MAX_BODY_BYTES.")),
    415: _documented(refusal("The body is not declared as JSON (`application/json`).")),
    422: _documented(
        invalid("A value, time or field is wrong; `loc` says where. Nothing was stored.")
    ),
    429: _documented(
        {"model": RateLimitedOut, "description": "A rate limit refused the request."},
        RETRY_AFTER,
    ),
    503: _documented(
        refusal(
            "The database is locked, full or unreachable, or the server is overloaded; "
            "nothing was stored. Retry after Retry-After seconds."
        ),
        RETRY_AFTER,
    ),
}


def _body_doc(model: type[Any]) -> dict[str, Any]:
    # The body and token are read by hand (after the rate limit), so FastAPI cannot
    # infer them; main.py adds the schemas and the security scheme to the document.
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "security": [{name: []} for name in BEARER_SCHEME],
    }


async def _read_json_body(request: Request, limit: int) -> bytes:
    content_type = (
        request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    )
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            "the body must be JSON, declared as 'Content-Type: application/json', "
            f"not {content_type!r}"
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise MalformedBody(f"Content-Length {declared!r} is not a number")
        if int(declared) > limit:
            raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    receive, more = request.receive, True
    while more:  # the ASGI messages themselves: Request.stream() is a generator around this
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def _rules(services: Services, now: datetime) -> IngestRules:
    settings = services.settings
    return IngestRules(
        readings=ReadingRules.from_settings(settings, now), max_batch_size=settings.max_batch_size
    )


async def _record(
    request: Request, services: Services, device: DeviceRef, readings: list[Reading], now: datetime
) -> Response:
    result = await services.measurements.record(device, readings, received_at=now)
    return _Answer(
        201 if result.stored else 200,
        b'{"stored":%d,"duplicates":%d}' % (result.stored, result.duplicates),
        rate_limit_headers(request),
    )


class _Answer(Response):
    """The success answer, its headers encoded directly (the one answer most requests get)."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            *(
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in headers.items()
            ),
        ]


async def post_measurement(request: Request) -> Response:
    """Store the values one device measured at one time."""
    device = await authenticate_device(request)
    services = services_of(request)
    now = services.clock()
    body = await _read_json_body(request, services.settings.max_body_bytes)
    readings = parse_single(body, _rules(services, now))
    return await _record(request, services, device, readings, now)


async def post_batch(request: Request) -> Response:
    """Store up to TELEMETRY_MAX_BATCH_SIZE measurements; one bad one stores none of them."""
    device = await authenticate_device(request)
    services = services_of(request)
    now = services.clock()
    body = await _read_json_body(request, services.settings.max_body_bytes)
    readings = parse_batch(body, _rules(services, now))
    return await _record(request, services, device, readings, now)


OPENAPI_BODY_MODELS = (MeasurementIn, BatchIn)

ENDPOINTS = {
    "/api/v1/measurements": (post_measurement, "Post one measurement", MeasurementIn),
    "/api/v1/measurements/batch": (post_batch, "Post many measurements", BatchIn),
}


class IngestRoutes:
    """Answers the ingest POSTs itself; everything else goes on to the app (module doc)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await route[0](request)
        except Exception as exc:
            handler = handler_for(exc)
            if handler is None:
                raise  # a fault, not a refusal: the server's error middleware answers 500
            response = await handler(request, exc)
        await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Add the ingest routes to `app`, answered by IngestRoutes ahead of the framework."""
    app.add_middleware(IngestRoutes)
    for path, (endpoint, summary, model) in ENDPOINTS.items():
        app.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            summary=summary,
            tags=["ingest"],
            status_code=201,
            responses=INGEST_RESPONSES,
            openapi_extra=_body_doc(model),
            response_model=None,
        )
