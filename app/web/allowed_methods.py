"""405 answers that list every method of the path, not only those of its first route.

A path may be served by routes of several routers (GET /api/v1/devices is a read,
POST /api/v1/devices a management call); Starlette's 405 names the methods of the
first route whose path matched, so `Allow` would leave out the others.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match, Route


async def method_not_allowed(request: Request, _: Exception) -> JSONResponse:
    """The 405, with `Allow` listing every method some route serves this path with."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _child = route.matches(request.scope)
            if match in (Match.FULL, Match.PARTIAL):
                methods |= route.methods
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=405,
        headers={"Allow": ", ".join(sorted(methods))},
    )


def install_allowed_methods(app: FastAPI) -> None:
    """Answer every 405 with the path's whole `Allow`."""
    app.add_exception_handler(405, method_not_allowed)
