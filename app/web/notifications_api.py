"""Notifications in the API: an admin sends one; each signed-in user reads their inbox.

    POST /api/v1/notifications              admin (personal token, or session + CSRF)
    GET  /api/v1/notifications?page=N       the user's own inbox (session or token)
    POST /api/v1/notifications/{id}/read    one read  -> {"unread": N}
    POST /api/v1/notifications/read-all     all read  -> {"unread": N}

The accounts context stores and audits, then announces on the bus: the toasts, badges
and closed toasts reach the open tabs from there (app/web/live_bridge.py). A guest of a
public dashboard has no inbox: 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from app.accounts import NotificationError
from app.web.auth import ADMIN_REFUSALS, OWN_REFUSALS, AdminApi, SignedInApi, actor_of
from app.web.deps import ROW_ID_MAX, ServicesDep
from app.web.errors import UNAVAILABLE, InvalidParameter, invalid, refusal
from app.web.notification_models import (
    InboxOut,
    NotificationIn,
    NotificationOut,
    UnreadOut,
    inbox_item_out,
)

router = APIRouter(tags=["notifications"])

PER_PAGE = 20
PAGE_MAX = 1_000_000
NOT_JSON = refusal("The body is not JSON text (UTF-8).")
INVALID = invalid(
    "A field breaks its rule (title, message, level, link), or `users` is empty or names "
    "users who are unknown (all of them, in one message) or disabled; `loc` says which."
)


def _audience(users: list[str] | None) -> str | list[str]:
    """The audience as the answer states it: each name once, as stored (lower case)."""
    if users is None:
        return "everyone"
    return list(dict.fromkeys(name.strip().lower() for name in users))


@router.post(
    "/api/v1/notifications",
    status_code=201,
    summary="Send a notification",
    response_model=NotificationOut,
    responses={**ADMIN_REFUSALS, 400: NOT_JSON, 422: INVALID, 503: UNAVAILABLE},
)
async def send_notification(
    body: NotificationIn, request: Request, principal: AdminApi, services: ServicesDep
) -> NotificationOut:
    """Send a notification to everyone (no `users`) or to the users named: stored for
    each, shown as a toast in their open tabs within a second, and in their inbox."""
    try:
        sent = await services.accounts.deliver_notification(
            body.title,
            body.message,
            level=body.level,
            link=body.link,
            sender=principal.user,
            users=body.users,
            actor=actor_of(request, principal),
        )
    except NotificationError as exc:
        raise InvalidParameter(("body", exc.field), str(exc), "value_error") from None
    n = sent.notification
    return NotificationOut(
        id=n.id,
        title=n.title,
        message=n.message,
        level=body.level,
        link=n.link,
        sender=n.sender,
        created_at=n.created_at,
        audience=_audience(body.users),
        recipients=len(sent.unread),
    )


@router.get(
    "/api/v1/notifications",
    summary="My notifications",
    response_model=InboxOut,
    responses={
        **OWN_REFUSALS,
        422: invalid("`page` is not a whole number from 1 up; `loc` says so."),
        503: UNAVAILABLE,
    },
)
async def inbox(
    principal: SignedInApi,
    services: ServicesDep,
    page: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Page, from 1.")] = 1,
) -> InboxOut:
    """The signed-in user's notifications, newest first, PER_PAGE a page, with read flags;
    a page past the end is empty."""
    assert principal.user is not None  # signed_in_api lets no guest through
    user_id = principal.user.id
    accounts = services.accounts
    found = await accounts.run(lambda: accounts.notifications.inbox(user_id, page, PER_PAGE))
    return InboxOut(
        notifications=[inbox_item_out(i.notification, i.read) for i in found.items],
        unread=found.unread,
        total=found.total,
        page=found.page,
        pages=found.pages,
    )


@router.post(
    "/api/v1/notifications/read-all",
    summary="Mark all my notifications read",
    response_model=UnreadOut,
    responses={**OWN_REFUSALS, 503: UNAVAILABLE},
)
async def read_all(principal: SignedInApi, services: ServicesDep) -> UnreadOut:
    """Mark every notification of the user read; every open tab of theirs hears it."""
    assert principal.user is not None
    return UnreadOut(unread=await services.accounts.mark_all_read(principal.user.id))


@router.post(
    "/api/v1/notifications/{notification_id}/read",
    summary="Mark one of my notifications read",
    response_model=UnreadOut,
    responses={
        **OWN_REFUSALS,
        404: refusal("The user has no notification with that id."),
        422: invalid("The id is not a whole number from 1 up; `loc` says so."),
        503: UNAVAILABLE,
    },
)
async def read_one(
    notification_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)],
    principal: SignedInApi,
    services: ServicesDep,
) -> UnreadOut:
    """Mark one notification read (reading it again changes nothing); every open tab
    of the user hears it."""
    assert principal.user is not None
    read = await services.accounts.read_notifications(principal.user.id, [notification_id])
    if notification_id not in (read.ids or ()):
        raise HTTPException(404, f"you have no notification with the id {notification_id}")
    return UnreadOut(unread=read.unread)
