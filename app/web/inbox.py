"""The inbox page: the signed-in user's notifications, newest first, paged; never public.

Marking read is a plain form posted with the session's CSRF token and answered with a
303 back to the same page, so it works without scripts; the accounts context announces
the read, and every open tab of the user updates its badge and closes those toasts.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.web.auth import SignedInPage, root_path
from app.web.deps import ROW_ID_MAX, services_of
from app.web.page_render import render_page

router = APIRouter(include_in_schema=False)

PER_PAGE = 20
PAGE_MAX = 1_000_000
PageNumber = Annotated[int, Query(ge=1, le=PAGE_MAX)]
FormPage = Annotated[int, Form(ge=1, le=PAGE_MAX)]


def _back(request: Request, page: int) -> RedirectResponse:
    suffix = "" if page == 1 else f"?page={page}"
    return RedirectResponse(f"{root_path(request)}/inbox{suffix}", status_code=303)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(
    request: Request, principal: SignedInPage, page: PageNumber = 1
) -> HTMLResponse:
    """The user's notifications, PER_PAGE a page, unread ones marked."""
    assert principal.user is not None
    user_id = principal.user.id
    accounts = services_of(request).accounts
    found = await accounts.run(lambda: accounts.notifications.inbox(user_id, page, PER_PAGE))
    html = render_page(request, "inbox.html", title="Inbox", inbox=found)
    return HTMLResponse(html)


@router.post("/inbox/read")
async def read_one(
    request: Request,
    principal: SignedInPage,
    notification_id: Annotated[int, Form(alias="id", ge=1, le=ROW_ID_MAX)],
    page: FormPage = 1,
) -> RedirectResponse:
    """Mark one notification read (one not the user's changes nothing), then back."""
    assert principal.user is not None
    await services_of(request).accounts.mark_read(principal.user.id, [notification_id])
    return _back(request, page)


@router.post("/inbox/read-all")
async def read_all(
    request: Request, principal: SignedInPage, page: FormPage = 1
) -> RedirectResponse:
    """Mark every notification of the user read, then back."""
    assert principal.user is not None
    await services_of(request).accounts.mark_all_read(principal.user.id)
    return _back(request, page)
