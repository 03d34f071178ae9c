"""Who is asking: a signed-in browser (its session cookie), a script (a personal token),
or, on a public dashboard, anybody; and what each may do.

    pages and fragments        session ─ or public dashboard ─ else redirect to /login
    read API, CSV, /events     session or personal token ─ or public ─ else 401 JSON
    own inbox (API)            session or personal token, never public ─ else 401 JSON
    admin pages                admin's session (never public) ─ else /login or 403 page
    admin API                  admin's session or personal token ─ else 401 / 403 JSON
    ingest                     device tokens only (app/web/deps.py); cookies ignored

Every state-changing request made with a session cookie carries the CSRF token (the
`X-CSRF-Token` header htmx sends from `hx-headers`, or the `csrf_token` form field) and
comes from this site (`Origin`, `Sec-Fetch-Site`). The token is derived from the session
id, which the page's scripts cannot read (HttpOnly) and another site cannot learn.
A personal token is sent by a script on purpose, never by a browser on its own, so
bearer requests need no CSRF token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from app.accounts import Actor, UserInfo, looks_like_personal_token
from app.web.client_address import client_address, from_trusted_proxy
from app.web.csrf import Forbidden, check_csrf, csrf_token_for
from app.web.deps import Services, bearer_token, services_of
from app.web.errors import refusal

SESSION_COOKIE = "telemetry_session"
# The routes that answer without signing in (besides /static and the ingest routes,
# which take device tokens); the README lists them, tests/web/test_access.py holds
# every other route to it.
PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/setup"),
        ("POST", "/setup"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    }
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: a user (by session or token), or nobody (public)."""

    user: UserInfo | None
    session_id: int = 0
    token_id: int = 0
    csrf_token: str = ""

    @property
    def is_admin(self) -> bool:
        """True for an admin's session or token."""
        return self.user is not None and self.user.is_admin


ANONYMOUS = Principal(None)


class LoginRequired(Exception):
    """Nobody is signed in, or the token opens nothing (401, or a redirect to /login)."""

    def __init__(self, detail: str, *, page: bool, invalid_token: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.page = page
        self.invalid_token = invalid_token


def request_client(request: Request) -> str:
    """The client's address, through trusted proxies."""
    services = services_of(request)
    return client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        services.settings.trusted_proxies,
    )


def actor_of(request: Request, principal: Principal) -> Actor:
    """Who acts, as the audit log records it: the principal's user, from this client."""
    return Actor(principal.user.name if principal.user else None, request_client(request))


def is_https(request: Request) -> bool:
    """True when the browser's request came over HTTPS, here or to a trusted proxy."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    trusted = services_of(request).settings.trusted_proxies
    return forwarded == "https" and from_trusted_proxy(peer, trusted)


def root_path(request: Request) -> str:
    """The prefix the app is served under (`--root-path`), without a trailing slash."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def safe_next(target: str | None) -> str:
    """A path inside this site to go back to after signing in; "/" for anything else."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\\\r\n\t") or len(target) > 2000:
        return "/"
    return target


def login_address(request: Request, back_to: str | None = None) -> str:
    """The sign-in page's address, coming back to `back_to` (this request's page)."""
    if back_to is None:
        back_to = request.url.path[len(root_path(request)) :] or "/"
        if request.url.query:
            back_to += "?" + request.url.query
    back_to = safe_next(back_to)
    suffix = "" if back_to == "/" else "?next=" + quote(back_to, safe="/")
    return f"{root_path(request)}/login{suffix}"


async def _by_session(services: Services, cookie: str | None) -> Principal | None:
    if not cookie:
        return None
    signed_in = await run_in_threadpool(services.accounts.sessions.lookup, cookie)
    if signed_in is None:
        return None
    return Principal(
        signed_in.user, session_id=signed_in.session_id, csrf_token=csrf_token_for(cookie)
    )


async def _by_token(services: Services, token: str) -> Principal:
    holder = (
        await run_in_threadpool(services.accounts.tokens.authenticate, token)
        if looks_like_personal_token(token)
        else None
    )
    if holder is None:
        raise LoginRequired(
            "the personal token is unknown or was revoked", page=False, invalid_token=True
        )
    return Principal(holder.user, token_id=holder.token_id)


async def identify(request: Request, *, tokens: bool) -> Principal | None:
    """The principal of a request: its bearer token (where tokens count), else its session.

    Kept on the request, so that dependencies and the page's template share one lookup.
    """
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    services = services_of(request)
    token = bearer_token(request.headers.get("authorization")) if tokens else None
    if token is not None:
        principal: Principal | None = await _by_token(services, token)
    else:
        principal = await _by_session(services, request.cookies.get(SESSION_COOKIE))
    if principal is not None:
        request.state.principal = principal
    return principal


CHALLENGE_HEADER = {
    "WWW-Authenticate": {
        "description": '`Bearer realm="telemetry"`, with `error="invalid_token"` '
        "for a token that opens nothing.",
        "schema": {"type": "string"},
    }
}
# How the routes behind these dependencies document their refusals.
READ_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: refusal(
        "No session and no personal token (or one that is unknown or revoked).",
        CHALLENGE_HEADER,
    ),
}
OWN_REFUSALS: dict[int | str, dict[str, Any]] = {
    **READ_REFUSALS,
    403: refusal(
        "With a session cookie: the CSRF token or the request's origin is missing or wrong."
    ),
}
ADMIN_REFUSALS: dict[int | str, dict[str, Any]] = {
    **READ_REFUSALS,
    403: refusal(
        "The user is not an admin, or (with a session cookie) the CSRF token or the "
        "request's origin is missing or wrong."
    ),
}


# -- dependencies ---------------------------------------------------------------------


async def page_reader(request: Request) -> Principal:
    """Pages and fragments: a signed-in browser (never a token), or anyone when public."""
    principal = await identify(request, tokens=False)
    if principal is not None:
        return principal
    if services_of(request).settings.public_dashboard:
        return ANONYMOUS
    raise LoginRequired("sign in to see the dashboard", page=True)


async def api_reader(request: Request) -> Principal:
    """The read API, CSV and /events: a session or a personal token, or anyone when public."""
    principal = await identify(request, tokens=True)
    if principal is not None:
        return principal
    if services_of(request).settings.public_dashboard:
        return ANONYMOUS
    raise LoginRequired(
        "sign in, or send a personal token: 'Authorization: Bearer tlp_...' "
        "(`telemetry user token NAME` prints one)",
        page=False,
    )


async def signed_in_page(request: Request) -> Principal:
    """A page about the signed-in user (sign-out), never public."""
    principal = await identify(request, tokens=False)
    if principal is None:
        raise LoginRequired("sign in first", page=True)
    await check_csrf(request, principal, page=True)
    return principal


async def admin_page(request: Request) -> Principal:
    """Management pages and forms: an admin's session, and the CSRF token on changes."""
    principal = await signed_in_page(request)
    if not principal.is_admin:
        raise Forbidden("only admins manage devices, users and sessions", page=True)
    return principal


async def admin_api(request: Request) -> Principal:
    """The management API: an admin's personal token, or an admin's session with CSRF."""
    principal = await identify(request, tokens=True)
    if principal is None:
        raise LoginRequired(
            "send an admin's personal token: 'Authorization: Bearer tlp_...'", page=False
        )
    if not principal.is_admin:
        raise Forbidden("only admins manage devices, users and sessions", page=False)
    await check_csrf(request, principal, page=False)
    return principal


async def signed_in_api(request: Request) -> Principal:
    """A user's own things (their inbox): a session with CSRF on changes, or a personal
    token; never a guest of a public dashboard, who has none."""
    principal = await identify(request, tokens=True)
    if principal is None or principal.user is None:
        raise LoginRequired(
            "sign in, or send your personal token: 'Authorization: Bearer tlp_...'", page=False
        )
    await check_csrf(request, principal, page=False)
    return principal


async def metrics_reader(request: Request) -> Principal:
    """/metrics: an admin, or anyone when TELEMETRY_METRICS_PUBLIC is on."""
    if services_of(request).settings.metrics_public:
        return ANONYMOUS
    return await admin_api(request)


PageReader = Annotated[Principal, Depends(page_reader)]
ApiReader = Annotated[Principal, Depends(api_reader)]
AdminPage = Annotated[Principal, Depends(admin_page)]
AdminApi = Annotated[Principal, Depends(admin_api)]
SignedInApi = Annotated[Principal, Depends(signed_in_api)]
SignedInPage = Annotated[Principal, Depends(signed_in_page)]
