"""405 answers that list every method of the path, not only those of its first route.

A path may be served by routes of several routers (GET /api/v1/devices is a read,
POST /api/v1/devices a management call); Starlette's 405 names the methods of the
first route whose path matched, so `Allow` would leave out the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope


def _routes(routes: Iterable[BaseRoute]) -> Iterator[Route]:
    """Every route, those of included routers too (FastAPI keeps them as branches).

    The routers here carry their prefix themselves and are included without one, so a
    route's own path is the whole path.
    """
    for route in routes:
        if isinstance(route, Route):
            yield route
        router: Any = getattr(route, "original_router", None)
        if router is not None:
            yield from _routes(router.routes)


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """The methods the routes serve the scope's path with."""
    methods: set[str] = set()
    for route in _routes(routes):
        if route.methods and route.matches(scope)[0] in (Match.FULL, Match.PARTIAL):
            methods |= route.methods
    return methods


async def method_not_allowed(request: Request, _: Exception) -> JSONResponse:
    """The 405, with `Allow` listing every method some route serves this path with."""
    methods = allowed_methods(request.app.routes, request.scope)
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=405,
        headers={"Allow": ", ".join(sorted(methods))},
    )


def install_allowed_methods(app: FastAPI) -> None:
    """Answer every 405 with the path's whole `Allow`."""
    app.add_exception_handler(405, method_not_allowed)
