"""Every refusal the API makes, the JSON answer each one gets, and how it is documented.

Two shapes, each a named component of the OpenAPI document (app/web/api_models.py):

    ErrorOut            {"detail": "what was wrong, and what to do"}    every 4xx but 422, 503
    ValidationErrorOut  {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}   every 422
    (RateLimitedOut, the 429, is ErrorOut with "limit" and "retry_after" added)

`loc` starts with the part of the request (`body`, `query`, `path`), then the field.

Exception                     status  shape                    routes
MalformedBody                  400    ErrorOut                 ingest
NotAuthenticated               401    ErrorOut + WWW-Authenticate: Bearer   ingest
BodyTooLarge                   413    ErrorOut + Connection: close          ingest
UnsupportedMediaType           415    ErrorOut                 ingest
InvalidBody                    422    ValidationErrorOut       ingest
QuantityLimitExceeded          422    ValidationErrorOut, loc ["body", "values"]   ingest
RequestValidationError         422    ValidationErrorOut       reads (query checked by FastAPI)
InvalidParameter               422    ValidationErrorOut       reads (rules FastAPI cannot check)
HistoryError                   422    ValidationErrorOut, loc ["query"]    history
DeviceNotFound, DeviceError    404    ErrorOut                 reads: no device has, or can
                                                               have, that name
SeriesNotFound                 404    ErrorOut                 history
RateLimited                    429    RateLimitedOut + Retry-After          ingest
StorageUnavailable             503    ErrorOut + Retry-After   ingest and reads
(no such route or method)      404, 405  ErrorOut (Starlette's own)

GET /events follows the same two shapes: 404, 429 and 503 (with Retry-After) as
ErrorOut; 422 as ValidationErrorOut, `loc` ["query", "topic"] or ["query", "device"],
when neither is given or a name is over 64 characters or holds control characters.

A route raises these; one answered ahead of FastAPI's handlers (ingest.py) answers with
`handler_for(exc)`. It documents them with the fragments at the end (`refusal`,
`invalid`, `UNAVAILABLE`, `RETRY_AFTER`), so that the document and the answers cannot
drift apart (tests/web/test_openapi_contract.py checks every answer against it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from limits import RateLimitItem
from starlette.requests import ClientDisconnect

from app.telemetry import (
    DeviceError,
    DeviceNotFound,
    HistoryError,
    QuantityLimitExceeded,
    SeriesNotFound,
    StorageUnavailable,
)
from app.web.api_models import ErrorOut, ValidationErrorOut
from app.web.payloads import MAX_REPORTED_ERRORS, InvalidBody, MalformedBody
from app.web.ratelimit import rate_limit_headers


class NotAuthenticated(Exception):
    """No bearer token, or one that opens nothing."""

    def __init__(self, detail: str, *, invalid_token: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid_token = invalid_token


class RateLimited(Exception):
    """A rate limit refused the request."""

    def __init__(self, limit: str, item: RateLimitItem, retry_after: int) -> None:
        super().__init__(limit)
        self.limit = limit
        self.item = item
        self.retry_after = retry_after


class BodyTooLarge(Exception):
    """The body is larger than TELEMETRY_MAX_BODY_BYTES."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes; send smaller batches")


class UnsupportedMediaType(Exception):
    """The body is declared as something other than JSON."""


class InvalidParameter(Exception):
    """A query or path parameter that breaks a rule FastAPI cannot check (answered 422)."""

    def __init__(self, loc: tuple[str, ...], msg: str, kind: str) -> None:
        super().__init__(msg)
        self.error = {"loc": list(loc), "msg": msg, "type": kind}


def _error(
    request: Request, status: int, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    # Every answer on the ingest path carries the rate-limit fields collected for it.
    return JSONResponse(
        {"detail": detail},
        status_code=status,
        headers={**rate_limit_headers(request), **(headers or {})},
    )


async def _malformed(request: Request, exc: Exception) -> JSONResponse:
    return _error(request, 400, str(exc))


async def _not_authenticated(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotAuthenticated)
    challenge = 'Bearer realm="telemetry"'
    if exc.invalid_token:
        challenge += ', error="invalid_token"'
    return _error(request, 401, exc.detail, {"WWW-Authenticate": challenge})


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    # The rest of the body is never read; closing the connection stops the client sending it.
    return _error(request, 413, str(exc), {"Connection": "close"})


async def _unsupported(request: Request, exc: Exception) -> JSONResponse:
    return _error(request, 415, str(exc))


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidBody)
    return _error(request, 422, exc.errors)


async def _invalid_parameter(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidParameter)
    return _error(request, 422, [exc.error])


async def _invalid_query(request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own answer also echoes each input and its context: the same shape as
    # ingest's instead, which the document states for every 422.
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e["loc"]), "msg": str(e["msg"]), "type": str(e["type"])}
        for e in exc.errors()[:MAX_REPORTED_ERRORS]
    ]
    return _error(request, 422, errors)


async def _unanswerable(request: Request, exc: Exception) -> JSONResponse:
    return _error(request, 422, [{"loc": ["query"], "msg": str(exc), "type": "query_invalid"}])


async def _quantity_limit(request: Request, exc: Exception) -> JSONResponse:
    error = {"loc": ["body", "values"], "msg": str(exc), "type": "too_many_quantities"}
    return _error(request, 422, [error])


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    who = "this client address" if exc.limit == "ip" else "this device token"
    return JSONResponse(
        {
            "detail": f"rate limit exceeded for {who}: {exc.item.amount} per "
            f"{exc.item.get_expiry()} s; retry in {exc.retry_after} s",
            "limit": exc.limit,
            "retry_after": exc.retry_after,
        },
        status_code=429,
        headers={**rate_limit_headers(request), "Retry-After": str(exc.retry_after)},
    )


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StorageUnavailable)
    stored = "nothing was stored, " if request.method == "POST" else ""
    return _error(
        request,
        503,
        f"{exc.reason}; {stored}retry in {exc.retry_after} s",
        {"Retry-After": str(exc.retry_after)},
    )


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return _error(request, 404, str(exc))


async def _impossible_name(request: Request, exc: Exception) -> JSONResponse:
    return _error(request, 404, f"no device has that name: {exc}")


async def _client_gone(request: Request, _: Exception) -> Response:
    # The client hung up while sending its body: nothing was stored and nobody is
    # listening for the answer; this keeps it out of the error log.
    return Response(status_code=400)


Handler = Callable[[Request, Exception], Awaitable[Response]]

# Exception class -> its answer. FastAPI's exception middleware uses it for every route;
# the ingest routes, answered ahead of that middleware (ingest.py), look it up themselves.
ERROR_HANDLERS: dict[type[Exception], Handler] = {
    MalformedBody: _malformed,
    NotAuthenticated: _not_authenticated,
    BodyTooLarge: _too_large,
    UnsupportedMediaType: _unsupported,
    InvalidBody: _invalid,
    QuantityLimitExceeded: _quantity_limit,
    RequestValidationError: _invalid_query,
    InvalidParameter: _invalid_parameter,
    HistoryError: _unanswerable,
    SeriesNotFound: _not_found,
    RateLimited: _rate_limited,
    StorageUnavailable: _unavailable,
    DeviceNotFound: _not_found,
    DeviceError: _impossible_name,
    ClientDisconnect: _client_gone,
}


def handler_for(exc: Exception) -> Handler | None:
    """The handler of `exc`'s class or of its nearest ancestor that has one."""
    for cls in type(exc).__mro__:
        handler = ERROR_HANDLERS.get(cls)
        if handler is not None:
            return handler
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Answer every refusal above with its status and a sentence the client can act on."""
    for cls, handler in ERROR_HANDLERS.items():
        app.add_exception_handler(cls, handler)


# The same refusals as the OpenAPI document states them (`responses=` of a route).

RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def refusal(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A documented answer in the shape {"detail": "message"} (ErrorOut)."""
    documented: dict[str, Any] = {"model": ErrorOut, "description": description}
    if headers:
        documented["headers"] = headers
    return documented


def invalid(description: str) -> dict[str, Any]:
    """A documented 422 in the validation-list shape (ValidationErrorOut)."""
    return {"model": ValidationErrorOut, "description": description}


UNAVAILABLE = refusal(
    "The database does not answer now (locked, full or unreachable); retry after "
    "Retry-After seconds.",
    RETRY_AFTER,
)
