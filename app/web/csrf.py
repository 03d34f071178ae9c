"""Cross-site request forgery: the token every change made with a session carries, and
the check that a form comes from this site (see app/web/auth.py for where they apply).

The token is derived from the session id, which the page's scripts cannot read
(HttpOnly) and another site cannot learn; nothing more is stored.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from fastapi import Request

from app.web.client_address import from_trusted_proxy
from app.web.deps import services_of

if TYPE_CHECKING:
    from app.web.auth import Principal

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Forbidden(Exception):
    """Signed in, but not allowed (403): a viewer on an admin route, a failed CSRF check."""

    def __init__(self, detail: str, *, page: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.page = page


def csrf_token_for(session_cookie: str) -> str:
    """The CSRF token of the session behind this cookie value."""
    return hashlib.sha256(b"csrf:" + session_cookie.encode("ascii", "replace")).hexdigest()


def _cross_site(request: Request) -> str | None:
    """Why a cookie-carrying request does not come from this site, or None if it does."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"the request came from another site (Sec-Fetch-Site: {site[:20]})"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    host = request.headers.get("host", "")
    peer = request.client.host if request.client else None
    if from_trusted_proxy(peer, services_of(request).settings.trusted_proxies):
        host = request.headers.get("x-forwarded-host", host).split(",")[0].strip()
    try:
        netloc = urlsplit(origin).netloc.lower() if origin != "null" else None
    except ValueError:  # not a URL at all ("http://[::1"): from nowhere we know
        netloc = None
    if netloc is None or netloc != host.lower():
        return f"the request came from another origin ({origin[:100]!r})"
    return None


def check_same_site(request: Request, *, page: bool) -> None:
    """Refuse a form posted from another site (sign-in and setup have no session yet)."""
    reason = _cross_site(request)
    if reason is not None:
        raise Forbidden(f"{reason}; send it from this dashboard's own pages", page=page)


async def check_csrf(request: Request, principal: Principal, *, page: bool) -> None:
    """Refuse a state-changing request made with a session cookie but no valid CSRF token."""
    if request.method in SAFE_METHODS or not principal.session_id:
        return
    check_same_site(request, page=page)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        field = (await request.form()).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not sent:
        raise Forbidden(
            "the CSRF token is missing: reload the page and try again "
            f"(scripts: send the {CSRF_HEADER} header, or use a personal token)",
            page=page,
        )
    if not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
        raise Forbidden("the CSRF token is wrong: reload the page and try again", page=page)
