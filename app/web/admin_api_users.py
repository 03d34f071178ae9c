"""The management API's users and sessions: list, add, change, remove; sign out.

The accounts context audits every change and ends the live streams of the sessions a
change ends (a new password, a disabled or removed user, a session ended).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request

from app.accounts import (
    USER_NAME_RULE,
    SessionInfo,
    UserConflict,
    UserError,
    UserInfo,
    UserNotFound,
    check_user_name,
)
from app.web.admin_models import (
    SessionOut,
    SessionsEndedOut,
    UserIn,
    UserOut,
    UserPatch,
)
from app.web.auth import AdminApi, actor_of
from app.web.deps import ROW_ID_MAX, ServicesDep
from app.web.errors import UNAVAILABLE, InvalidParameter, invalid, refusal

router = APIRouter(tags=["user management"])

UserName = Annotated[
    str, Path(description=f"The user's name: {USER_NAME_RULE}.", examples=["alice"])
]
NOT_JSON = refusal("The body is not JSON text (UTF-8).")
NOT_FOUND = refusal("No user has that name.")
CONFLICT = refusal(
    "The change would leave no active admin, or (adding) a user has that name already."
)
INVALID = invalid("A value breaks its rule (name, password, display name); `loc` says which.")


def _user_out(user: UserInfo) -> UserOut:
    return UserOut(
        name=user.name,
        display_name=user.display_name,
        role=user.role,
        disabled=user.disabled,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _session_out(session: SessionInfo) -> SessionOut:
    return SessionOut(
        id=session.id,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        expires_at=session.expires_at,
        persistent=session.persistent,
        client_address=session.client_address,
        user_agent=session.user_agent,
    )


def _field_of(message: str) -> str:
    """The body field a refused value was in, from the context's sentence."""
    for word, field in (("password", "password"), ("display name", "display_name")):
        if word in message:
            return field
    return "name"


def _refusal(exc: UserError) -> Exception:
    if isinstance(exc, UserNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, UserConflict):
        return HTTPException(409, str(exc))
    return InvalidParameter(("body", _field_of(str(exc))), str(exc), "value_error")


def _known_name(raw: str) -> str:
    """A user name from the path; UserNotFound if no user can have it."""
    try:
        return check_user_name(raw)
    except UserError:
        raise HTTPException(404, f"no user is named {raw.strip()[:40]!r}") from None


@router.get(
    "/api/v1/users",
    summary="List users",
    response_model=list[UserOut],
    responses={503: UNAVAILABLE},
)
async def list_users(services: ServicesDep) -> list[UserOut]:
    """Every user in name order."""
    users = await services.accounts.run(services.accounts.users.list)
    return [_user_out(user) for user in users]


@router.post(
    "/api/v1/users",
    status_code=201,
    summary="Add a user",
    response_model=UserOut,
    responses={400: NOT_JSON, 409: CONFLICT, 422: INVALID, 503: UNAVAILABLE},
)
async def add_user(
    body: UserIn, request: Request, principal: AdminApi, services: ServicesDep
) -> UserOut:
    """A new user who signs in with this name and password."""
    actor = actor_of(request, principal)
    users = services.accounts.users
    try:
        user = await services.accounts.run(
            lambda: users.add(
                body.name,
                body.password,
                role=body.role,
                display_name=body.display_name,
                actor=actor,
            )
        )
    except UserError as exc:
        raise _refusal(exc) from None
    return _user_out(user)


@router.get(
    "/api/v1/users/{name}",
    summary="One user",
    response_model=UserOut,
    responses={404: NOT_FOUND, 503: UNAVAILABLE},
)
async def get_user(name: UserName, services: ServicesDep) -> UserOut:
    """A user."""
    try:
        user = await services.accounts.run(lambda: services.accounts.users.get(_known_name(name)))
    except UserError as exc:
        raise _refusal(exc) from None
    return _user_out(user)


@router.patch(
    "/api/v1/users/{name}",
    summary="Change a user",
    response_model=UserOut,
    responses={400: NOT_JSON, 404: NOT_FOUND, 409: CONFLICT, 422: INVALID, 503: UNAVAILABLE},
)
async def patch_user(
    name: UserName, body: UserPatch, request: Request, principal: AdminApi, services: ServicesDep
) -> UserOut:
    """Change the role, disabled flag, display name or password (all or nothing).

    The last active admin can be neither demoted nor disabled (409).
    """
    actor = actor_of(request, principal)
    accounts = services.accounts
    user_name = _known_name(name)
    try:
        user = await accounts.update_user(
            user_name,
            actor,
            role=body.role,
            disabled=body.disabled,
            display_name=body.display_name,
            password=body.password,
        )
    except UserError as exc:
        raise _refusal(exc) from None
    return _user_out(user)


@router.delete(
    "/api/v1/users/{name}",
    summary="Remove a user",
    response_model=UserOut,
    responses={404: NOT_FOUND, 409: CONFLICT, 503: UNAVAILABLE},
)
async def remove_user(
    name: UserName, request: Request, principal: AdminApi, services: ServicesDep
) -> UserOut:
    """Delete a user with their sessions and personal tokens (not the last active admin)."""
    try:
        user = await services.accounts.remove_user(_known_name(name), actor_of(request, principal))
    except UserError as exc:
        raise _refusal(exc) from None
    return _user_out(user)


@router.get(
    "/api/v1/users/{name}/sessions",
    summary="A user's sessions",
    response_model=list[SessionOut],
    responses={404: NOT_FOUND, 503: UNAVAILABLE},
)
async def user_sessions(name: UserName, services: ServicesDep) -> list[SessionOut]:
    """The user's sessions that have not expired, most recently seen first."""
    accounts = services.accounts
    try:
        user = await accounts.run(lambda: accounts.users.get(_known_name(name)))
    except UserError as exc:
        raise _refusal(exc) from None
    sessions = await accounts.run(lambda: accounts.sessions.of_user(user.id))
    return [_session_out(s) for s in sessions]


@router.delete(
    "/api/v1/users/{name}/sessions",
    summary="Sign a user out everywhere",
    response_model=SessionsEndedOut,
    responses={404: NOT_FOUND, 503: UNAVAILABLE},
)
async def sign_out_everywhere(
    name: UserName, request: Request, principal: AdminApi, services: ServicesDep
) -> SessionsEndedOut:
    """End every session of the user; their open pages go to the sign-in page."""
    try:
        _, ended = await services.accounts.sign_out_everywhere(
            _known_name(name), actor_of(request, principal)
        )
    except UserError as exc:
        raise _refusal(exc) from None
    return SessionsEndedOut(ended=ended)


@router.delete(
    "/api/v1/sessions/{session_id}",
    summary="End a session",
    response_model=SessionOut,
    responses={
        404: refusal("No session has that id (or it has ended)."),
        422: invalid("The session id is not a whole number from 1 up; `loc` says so."),
        503: UNAVAILABLE,
    },
)
async def end_session(
    session_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)],
    request: Request,
    principal: AdminApi,
    services: ServicesDep,
) -> SessionOut:
    """End one session; its open pages go to the sign-in page."""
    ended = await services.accounts.end_session(session_id, actor_of(request, principal))
    if ended is None:
        raise HTTPException(404, f"no session has the id {session_id} (it may have ended)")
    return _session_out(ended)
