"""The back office's notify form: a notification to everyone or to the users ticked.

Sent, the browser goes back to the empty form with 303 and a confirmation naming how
many received it (a reload sends nothing twice). Refused, the form comes back with what
was typed and the error next to its field (422).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.accounts import LEVELS, LINK_MAX, MESSAGE_MAX, TITLE_MAX, NotificationError
from app.web.auth import AdminPage, actor_of, root_path
from app.web.deps import services_of
from app.web.page_render import render_page

router = APIRouter(prefix="/admin/notify")

FormText = Annotated[str, Form(max_length=4 * MESSAGE_MAX)]
EMPTY_FORM: dict[str, Any] = {
    "title": "",
    "message": "",
    "level": "info",
    "link": "",
    "audience": "everyone",
    "users": [],
}


def _confirmation(sent: int | None) -> str | None:
    if sent is None:
        return None
    return f"Sent to {sent} user{'' if sent == 1 else 's'}."


async def _form_page(
    request: Request, *, status: int = 200, form: dict[str, Any], **context: Any
) -> HTMLResponse:
    accounts = services_of(request).accounts
    users = [user for user in await accounts.run(accounts.users.list) if not user.disabled]
    html = render_page(
        request,
        "admin_notify.html",
        section="notify",
        title="Notify",
        form=form,
        users=users,
        levels=LEVELS,
        limits={"title": TITLE_MAX, "message": MESSAGE_MAX, "link": LINK_MAX},
        **context,
    )
    return HTMLResponse(html, status_code=status)


@router.get("", response_class=HTMLResponse)
async def notify_page(
    request: Request, sent: Annotated[int | None, Query(ge=0, le=10**9)] = None
) -> HTMLResponse:
    """The form; after a send, with how many it reached."""
    return await _form_page(request, form=EMPTY_FORM, notice=_confirmation(sent))


def _check_audience(audience: str, users: list[str]) -> None:
    """Refuse an audience that is not one: a private message must never go to everyone
    because a radio button was left as it was."""
    if audience not in ("everyone", "users"):
        raise NotificationError("audience", "choose Everyone or The users ticked below")
    if audience == "everyone" and users:
        raise NotificationError(
            "audience",
            "Everyone is chosen, but users are ticked: choose The users ticked below, "
            "or untick them",
        )


@router.post("", response_class=HTMLResponse)
async def send(
    request: Request,
    principal: AdminPage,
    title: FormText = "",
    message: FormText = "",
    level: FormText = "info",
    link: FormText = "",
    audience: FormText = "everyone",
    users: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006  (FastAPI copies it)
) -> Response:
    """Send the notification, then back to the form with a confirmation."""
    chosen = None if audience == "everyone" else users
    try:
        _check_audience(audience, users)
        sent = await services_of(request).accounts.deliver_notification(
            title,
            message,
            level=level,
            link=link or None,
            sender=principal.user,
            users=chosen,
            actor=actor_of(request, principal),
        )
    except NotificationError as exc:
        form = {
            "title": title,
            "message": message,
            "level": level,
            "link": link,
            "audience": audience,
            "users": users,
        }
        return await _form_page(
            request, status=422, form=form, errors={exc.field: str(exc)}, error=f"Not sent: {exc}"
        )
    address = f"{root_path(request)}/admin/notify?sent={len(sent.unread)}"
    return RedirectResponse(address, status_code=303)
