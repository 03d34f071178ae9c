"""Signing in and out, and the first admin's setup page.

    GET  /login         the form (a signed-in browser goes on to `next`)
    POST /login         rate limited per user name and per address; a new session each
                        time (no fixation); one message for every failure
    POST /logout        ends this browser's session (CSRF-checked like every change)
    GET  /setup?code=   while no user exists and the code is the one `telemetry serve`
    POST /setup         printed: create the first admin, signed in at once

The sign-in and setup forms are checked to come from this site (Origin, Sec-Fetch-Site),
as they carry no session to derive a CSRF token from.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.accounts import (
    PASSWORD_MIN,
    USER_NAME_RULE,
    SetupClosed,
    SignedIn,
    UserError,
)
from app.config import Settings
from app.db import StorageUnavailable
from app.web.auth import (
    SESSION_COOKIE,
    identify,
    is_https,
    request_client,
    root_path,
    safe_next,
)
from app.web.csrf import check_csrf, check_same_site
from app.web.deps import services_of
from app.web.page_render import render_page
from app.web.ratelimit import RateLimiter, policy_for, remember_headers

router = APIRouter(include_in_schema=False)

WRONG = "Wrong name or password."
NAME_MAX = 64  # longer than any user name: what is typed is not trusted


def login_limiter(settings: Settings) -> RateLimiter:
    """Sign-in attempts counted per address and per user name tried."""
    return RateLimiter(
        settings,
        policies=(
            policy_for("login-ip", settings.rate_limit_login_ip),
            policy_for("login-user", settings.rate_limit_login_user),
        ),
    )


NO_USERS = (
    "No user exists yet. Create the first admin with the setup address that "
    "`telemetry serve` printed when it started, or on the server: "
    "`telemetry user add NAME --admin`."
)


def _login_page(
    request: Request,
    *,
    next_page: str,
    name: str = "",
    error: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
    notice: str = "",
) -> HTMLResponse:
    html = render_page(
        request,
        "login.html",
        next_page=next_page,
        name=name,
        error=error,
        notice=notice,
        title="Sign in",
    )
    return HTMLResponse(html, status_code=status, headers=headers)


def _signed_in_answer(request: Request, raw: str, signed_in: SignedIn, target: str) -> Response:
    """Set the session cookie and go on to `target`."""
    services = services_of(request)
    answer = RedirectResponse(root_path(request) + target, status_code=303)
    max_age = int(services.settings.session_max_days * 86400) if signed_in.persistent else None
    answer.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=max_age,
        path=root_path(request) or "/",
        secure=is_https(request),
        httponly=True,
        samesite="lax",
    )
    return answer


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, next_page: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """The sign-in form."""
    target = safe_next(next_page)
    if await identify(request, tokens=False) is not None:
        return RedirectResponse(root_path(request) + target, status_code=303)
    services = services_of(request)
    try:
        nobody = await services.accounts.run(services.accounts.users.count) == 0
    except StorageUnavailable:
        nobody = False
    return _login_page(request, next_page=target, notice=NO_USERS if nobody else "")


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    remember: Annotated[str | None, Form()] = None,
    next_page: Annotated[str | None, Form(alias="next", max_length=4000)] = None,
) -> Response:
    """Check the name and password; on success a new session and its cookie."""
    check_same_site(request, page=True)
    services = services_of(request)
    target = safe_next(next_page)
    name = username.strip().lower()[:NAME_MAX]
    client = request_client(request)
    verdict = await services.login_limiter.check(client, name or "-")
    remember_headers(request, verdict.headers)
    if verdict.exceeded is not None:
        minutes, seconds = divmod(verdict.retry_after, 60)
        wait = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
        return _login_page(
            request,
            next_page=target,
            name=name,
            error=f"Too many sign-in attempts. Try again in {wait}.",
            status=429,
            headers={**verdict.headers, "Retry-After": str(verdict.retry_after)},
        )
    user = await services.accounts.authenticate(name, password) if name and password else None
    if user is None:
        await services.accounts.run(lambda: services.accounts.record_failed_sign_in(name, client))
        return _login_page(
            request, next_page=target, name=name, error=WRONG, status=401, headers=verdict.headers
        )
    # Only failures hold a name back: a user who signs in five times in a row (tabs,
    # devices) is not locked out by it.
    await services.login_limiter.forget(name)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await services.accounts.sign_out(old, client)
    raw, signed_in = await services.accounts.run(
        lambda: services.accounts.sessions.create(
            user,
            persistent=remember is not None,
            client=client,
            user_agent=request.headers.get("user-agent", ""),
        )
    )
    return _signed_in_answer(request, raw, signed_in, target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End this browser's session (its live streams end with it), and forget its cookie.

    Changes need the CSRF token like any other; a cookie whose session has already ended
    is simply forgotten (no session: nothing to forge).
    """
    services = services_of(request)
    principal = await identify(request, tokens=False)
    if principal is not None:
        await check_csrf(request, principal, page=True)
        raw = request.cookies.get(SESSION_COOKIE, "")
        await services.accounts.sign_out(raw, request_client(request))
    answer = RedirectResponse(root_path(request) + "/login", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path=root_path(request) or "/")
    return answer


def _setup_page(
    request: Request,
    code: str,
    *,
    error: str = "",
    name: str = "",
    display: str = "",
    status: int = 200,
) -> HTMLResponse:
    html = render_page(
        request,
        "setup.html",
        code=code,
        error=error,
        name=name,
        display=display,
        name_rule=USER_NAME_RULE,
        password_min=PASSWORD_MIN,
        title="Set up",
    )
    return HTMLResponse(html, status_code=status)


CLOSED = (
    "This setup address is not valid: it has been used, or replaced by a newer one. "
    "Sign in, or, while no user exists, restart `telemetry serve` for a new address."
)


@router.get("/setup", response_class=HTMLResponse)
async def setup_form(
    request: Request, code: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """The form that creates the first admin, while the code is valid."""
    services = services_of(request)
    if not code or not await services.accounts.run(
        lambda: services.accounts.first_run.is_open(code)
    ):
        html = render_page(request, "not_found.html", title="Setup closed", message=CLOSED)
        return HTMLResponse(html, status_code=404)
    return _setup_page(request, code)


@router.post("/setup", response_class=HTMLResponse)
async def setup(
    request: Request,
    code: Annotated[str, Form(max_length=200)] = "",
    username: Annotated[str, Form(max_length=1000)] = "",
    display_name: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    password_again: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    """Create the first admin and sign them in."""
    check_same_site(request, page=True)
    services = services_of(request)
    client = request_client(request)
    if password != password_again:
        return _setup_page(
            request,
            code,
            error="The two passwords differ.",
            name=username,
            display=display_name,
            status=422,
        )
    try:
        admin = await services.accounts.run(
            lambda: services.accounts.first_run.create_admin(
                code, username, password, display_name=display_name, client=client
            )
        )
    except SetupClosed:
        html = render_page(request, "not_found.html", title="Setup closed", message=CLOSED)
        return HTMLResponse(html, status_code=404)
    except UserError as exc:
        return _setup_page(
            request,
            code,
            error=str(exc).capitalize() + ".",
            name=username,
            display=display_name,
            status=422,
        )
    raw, signed_in = await services.accounts.run(
        lambda: services.accounts.sessions.create(
            admin, persistent=False, client=client, user_agent=request.headers.get("user-agent", "")
        )
    )
    return _signed_in_answer(request, raw, signed_in, "/")
