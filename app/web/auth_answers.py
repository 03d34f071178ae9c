"""What a refused request gets: a page, an htmx redirect, or JSON, by who asked.

LoginRequired  page          303 to /login?next=<the page>
               htmx request  401 with HX-Redirect to /login (htmx loads that page)
               API           401 JSON, WWW-Authenticate: Bearer realm="telemetry"
Forbidden      page          403 page saying why
               API           403 JSON
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.web.auth import LoginRequired, login_address, root_path
from app.web.csrf import Forbidden
from app.web.page_render import render_page

CHALLENGE = 'Bearer realm="telemetry"'


def _htmx_page(request: Request) -> str | None:
    """The page an htmx request was made from (its path inside the app), if any."""
    if request.headers.get("hx-request") != "true":
        return None
    try:
        current = urlsplit(request.headers.get("hx-current-url", ""))
    except ValueError:  # a header no browser sends: back to the start page
        return "/"
    path = current.path or "/"
    root = root_path(request)
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path + ("?" + current.query if current.query else "")


async def login_required(request: Request, exc: Exception) -> Response:
    """Send a browser to the sign-in page; tell a script it needs a token."""
    assert isinstance(exc, LoginRequired)
    if exc.page:
        page = _htmx_page(request)
        if page is not None:
            return Response(status_code=401, headers={"HX-Redirect": login_address(request, page)})
        return RedirectResponse(login_address(request), status_code=303)
    challenge = CHALLENGE + (', error="invalid_token"' if exc.invalid_token else "")
    return JSONResponse(
        {"detail": exc.detail}, status_code=401, headers={"WWW-Authenticate": challenge}
    )


async def forbidden(request: Request, exc: Exception) -> Response:
    """Say why the signed-in user may not do this."""
    assert isinstance(exc, Forbidden)
    if exc.page:
        html = render_page(request, "not_found.html", title="Not allowed", message=exc.detail)
        return HTMLResponse(html, status_code=403)
    return JSONResponse({"detail": exc.detail}, status_code=403)


def install_auth_answers(app: FastAPI) -> None:
    """Answer LoginRequired and Forbidden wherever a route raises them."""
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(Forbidden, forbidden)
