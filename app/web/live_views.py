"""The tabs of one browser share a live stream: POST /events/views joins one, and
POST /events/views/leave says a tab's page is going (app/live/tabs.py explains the
design; static/js/live.js is the browser's side).

Also what a stream needs to know before it opens: which page topic its query names, and
who watches (a user's display name, whether they may see presence, their unread count).
"""

from __future__ import annotations

import re
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, Response

from app.live.hub import (
    OVERVIEW,
    PAGE,
    NotYourStream,
    TooManyViews,
    UnknownStream,
    Watcher,
    device_topic,
)
from app.telemetry import DEVICE_NAME_MAX, DeviceError, normalize_device_name
from app.web.auth import READ_REFUSALS, Principal, api_reader
from app.web.csrf import check_csrf
from app.web.deps import CONTROL_CHARACTERS, Services, live_device_id, services_of
from app.web.errors import InvalidParameter, invalid, refusal

# The browser's own protocol (static/js/live.js), described at /events: not an API.
router = APIRouter(tags=["live"], include_in_schema=False)

TAB_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
TAB_ID_RULE = "1 to 40 letters, digits, '_' or '-'"
_TAB_PATTERN = f"^{TAB_ID.pattern}$"

TabParam = Annotated[
    str | None,
    Query(
        description="The browser tab's id (kept across its page loads): presence counts tabs.",
        pattern=_TAB_PATTERN,
    ),
]
ViewParam = Annotated[
    str | None,
    Query(description="This page load's id, unique per load.", pattern=_TAB_PATTERN),
]


def invalid_field(where: str, name: str, message: str, kind: str = "value_error") -> JSONResponse:
    """A 422 in the validation-list shape (app/web/errors.py), `loc` naming the field."""
    error = InvalidParameter((where, name), message, kind).error
    return JSONResponse({"detail": [error]}, status_code=422)


async def page_topic_of(
    services: Services,
    topic: str | None,
    device: str | None,
    page: str | None,
    where: str = "query",
) -> str | JSONResponse:
    """The live topic a page's stream carries, or the answer refusing the request."""
    if topic is not None and topic != OVERVIEW:
        return invalid_field(
            where, "topic", "the only topic is `overview`; a device's page is `device=NAME`"
        )
    if page is not None and page != "other":
        return invalid_field(where, "page", "the only page is `other`")
    if device is not None:
        if len(device) > DEVICE_NAME_MAX:
            message = f"a device name has at most {DEVICE_NAME_MAX} characters"
            return invalid_field(where, "device", message)
        try:
            name = normalize_device_name(device)
        except DeviceError as exc:
            return invalid_field(where, "device", str(exc))
        device_id = await live_device_id(services, name)
        if device_id is None:
            return JSONResponse({"detail": f"no device is named {name!r}"}, status_code=404)
        return device_topic(device_id)
    if topic == OVERVIEW:
        return OVERVIEW
    if page is not None:
        return PAGE
    message = "ask for `topic=overview`, `device=NAME` or `page=other`"
    return invalid_field(where, "topic", message, "missing")


def session_key(principal: Principal) -> int:
    """The session a stream or tab belongs to: minus the id for a personal token."""
    return principal.session_id or -principal.token_id


async def watcher_of(services: Services, principal: Principal) -> Watcher:
    """Who a stream is for: raises StorageUnavailable if the unread count cannot be read."""
    user = principal.user
    session = session_key(principal)
    if user is None:
        return Watcher(0, session, "", not services.settings.presence_admins_only)
    sees = user.is_admin or not services.settings.presence_admins_only
    unread = services.hub.unread(user.id)
    asked = time.monotonic()  # what the hub hears from now on is newer than the answer
    if unread is None:
        accounts = services.accounts
        unread = await accounts.run(lambda: accounts.notifications.unread_count(user.id))
    return Watcher(user.id, session, user.display_name, sees, unread, asked)


async def live_writer(request: Request) -> Principal:
    """Who asks, checked before the form is: a session's request needs its CSRF token."""
    principal = await api_reader(request)
    await check_csrf(request, principal, page=False)
    return principal


LiveWriter = Annotated[Principal, Depends(live_writer)]
TabField = Annotated[str, Form(description="The tab's id.", pattern=_TAB_PATTERN)]
ViewField = Annotated[str, Form(description="The page load's id.", pattern=_TAB_PATTERN)]


@router.post(
    "/events/views",
    summary="Add a tab to the browser's live stream",
    responses={
        **READ_REFUSALS,
        404: refusal("The stream is not open (here), or no device has that name."),
        422: invalid("A field missing or malformed; `loc` says which."),
        429: refusal("The stream carries as many tabs as it may."),
    },
)
async def join_view(
    request: Request,
    principal: LiveWriter,
    stream: Annotated[
        str,
        Form(description="The stream's id (its `stream` event).", pattern=_TAB_PATTERN),
    ],
    tab: TabField,
    view: ViewField,
    topic: Annotated[str | None, Form(description="`overview`.", pattern="^overview$")] = None,
    device: Annotated[
        str | None,
        Form(
            description="A device's name.",
            min_length=1,
            max_length=DEVICE_NAME_MAX,
            pattern=f"^[^/{CONTROL_CHARACTERS}]+$",
        ),
    ] = None,
    page: Annotated[str | None, Form(description="`other`.", pattern="^other$")] = None,
) -> Response:
    """The tab's page is carried by that stream from now on; its snapshot goes on it."""
    services = services_of(request)
    page_topic = await page_topic_of(services, topic, device, page, "body")
    if isinstance(page_topic, Response):
        return page_topic
    watcher = await watcher_of(services, principal)
    try:
        services.hub.join(stream, watcher, page_topic, tab=tab, view=view)
    except UnknownStream as exc:
        return JSONResponse({"detail": str(exc)}, 404)
    except NotYourStream as exc:
        return JSONResponse({"detail": str(exc)}, 403)
    except TooManyViews as exc:
        return JSONResponse({"detail": str(exc)}, 429)
    return JSONResponse({"topic": page_topic})


@router.post(
    "/events/views/leave",
    summary="Say a tab's page is going",
    status_code=204,
    responses={**READ_REFUSALS, 422: invalid("A field missing or malformed.")},
)
async def leave_view(
    request: Request,
    principal: LiveWriter,
    view: ViewField,
    stream: Annotated[
        str, Form(description="The id of the stream carrying the tab.", pattern=_TAB_PATTERN)
    ],
    tab: Annotated[str | None, Form(description="The tab's id.", pattern=_TAB_PATTERN)] = None,
) -> Response:
    """The page leaves presence after a short grace (a navigation's next page rejoins)."""
    user_id = principal.user.id if principal.user else 0
    services_of(request).hub.leave(Watcher(user_id, session_key(principal)), view, stream)
    return Response(status_code=204)
