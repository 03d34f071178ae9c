"""Every refusal the API makes, and the JSON answer each one gets.

Exception                    status  body
MalformedBody                 400    {"detail": "..."}
NotAuthenticated              401    {"detail": "..."} + WWW-Authenticate: Bearer
BodyTooLarge                  413    {"detail": "..."} + Connection: close
UnsupportedMediaType          415    {"detail": "..."}
InvalidBody                   422    {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}
QuantityLimitExceeded         422    same shape, loc ["body", "values"]
BadRange, HistoryError        422    {"detail": "..."} (history ranges and queries)
DeviceNotFound, SeriesNotFound 404   {"detail": "..."}
RateLimited                   429    {"detail", "limit", "retry_after"} + Retry-After
StorageUnavailable            503    {"detail": "..."} + Retry-After
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from limits import RateLimitItem
from starlette.requests import ClientDisconnect

from app.telemetry import (
    DeviceNotFound,
    HistoryError,
    QuantityLimitExceeded,
    SeriesNotFound,
    StorageUnavailable,
)
from app.web.payloads import InvalidBody, MalformedBody
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


class BadRange(Exception):
    """A history range nothing can be read for."""


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


async def _unanswerable(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


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
    return _error(
        request,
        503,
        f"{exc.reason}; nothing was stored, retry in {exc.retry_after} s",
        {"Retry-After": str(exc.retry_after)},
    )


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return _error(request, 404, str(exc))


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
    BadRange: _unanswerable,
    HistoryError: _unanswerable,
    SeriesNotFound: _not_found,
    RateLimited: _rate_limited,
    StorageUnavailable: _unavailable,
    DeviceNotFound: _not_found,
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
