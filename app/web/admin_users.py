"""The back office's users and their sessions: add, change role or display name, new
password, disable or enable, remove (confirmed); list and end sessions.

The accounts context does and audits each change; the changes that end sessions end
their live streams too (their pages go to the sign-in page). A refused change shows
the page again with what was wrong: 404 no such user, 409 a conflict (a name taken,
the last admin), 422 a value that breaks its rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from app.accounts import (
    PASSWORD_MIN,
    USER_NAME_RULE,
    SessionInfo,
    UserConflict,
    UserError,
    UserInfo,
    UserNotFound,
    check_role,
    check_user_name,
)
from app.web.auth import AdminPage, actor_of
from app.web.deps import services_of
from app.web.page_render import render_page
from app.web.user_agents import short_agent

router = APIRouter(prefix="/admin/users")

FormText = Annotated[str, Form(max_length=4096)]


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user as the list shows them."""

    user: UserInfo
    sessions: int


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session as the list shows it."""

    session: SessionInfo
    browser: str


def _known(name: str) -> str:
    """A user name from the path; UserNotFound if no user can have it (nothing is asked
    of the database: PostgreSQL refuses some characters outright)."""
    try:
        return check_user_name(name)
    except UserError:
        raise UserNotFound(f"no user is named {name.strip()[:40]!r}") from None


def _status(exc: UserError) -> int:
    if isinstance(exc, UserNotFound):
        return 404
    return 409 if isinstance(exc, UserConflict) else 422


def _page(request: Request, template: str, status: int, **context: Any) -> HTMLResponse:
    html = render_page(request, template, section="users", password_min=PASSWORD_MIN, **context)
    return HTMLResponse(html, status_code=status)


async def _users_page(request: Request, *, status: int = 200, **context: Any) -> HTMLResponse:
    accounts = services_of(request).accounts

    def rows() -> list[UserRow]:
        return [UserRow(u, len(accounts.sessions.of_user(u.id))) for u in accounts.users.list()]

    context.setdefault("form", {"name": "", "display_name": "", "role": "viewer"})
    return _page(
        request,
        "admin_users.html",
        status,
        title="Users",
        rows=await accounts.run(rows),
        name_rule=USER_NAME_RULE,
        **context,
    )


async def _user_page(
    request: Request, name: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    accounts = services_of(request).accounts
    try:
        user = await accounts.run(lambda: accounts.users.get(_known(name)))
    except UserError as exc:
        return _not_found(request, exc)
    context.setdefault("display_name", user.display_name)
    context.setdefault("role", user.role)
    return _page(request, "admin_user.html", status, title=user.name, user=user, **context)


def _not_found(request: Request, exc: UserError) -> HTMLResponse:
    html = render_page(request, "not_found.html", title="Not found", message=str(exc))
    return HTMLResponse(html, status_code=404)


@router.get("", response_class=HTMLResponse)
async def users_page(request: Request) -> HTMLResponse:
    """Every user, and the form to add one."""
    return await _users_page(request)


@router.post("", response_class=HTMLResponse)
async def add_user(
    request: Request,
    principal: AdminPage,
    name: FormText = "",
    display_name: FormText = "",
    password: FormText = "",
    role: FormText = "viewer",
) -> HTMLResponse:
    """Add a user."""
    accounts = services_of(request).accounts
    actor = actor_of(request, principal)
    try:
        user = await accounts.run(
            lambda: accounts.users.add(
                name, password, role=check_role(role), display_name=display_name, actor=actor
            )
        )
    except UserError as exc:
        form = {"name": name, "display_name": display_name, "role": role}
        return await _users_page(request, status=_status(exc), error=str(exc), form=form)
    return await _users_page(request, status=201, notice=f"Added {user.name} ({user.role}).")


@router.get("/{name}", response_class=HTMLResponse)
async def user_page(request: Request, name: str) -> HTMLResponse:
    """One user, with what an admin can change."""
    return await _user_page(request, name)


@router.post("/{name}", response_class=HTMLResponse)
async def change_user(
    request: Request,
    name: str,
    principal: AdminPage,
    display_name: FormText = "",
    role: FormText = "",
) -> HTMLResponse:
    """Change a user's display name and role (the last active admin stays admin)."""
    accounts = services_of(request).accounts
    try:
        await accounts.update_user(
            _known(name),
            actor_of(request, principal),
            role=check_role(role),
            display_name=display_name,
        )
    except UserError as exc:
        if isinstance(exc, UserNotFound):
            return _not_found(request, exc)
        return await _user_page(
            request,
            name,
            status=_status(exc),
            error=str(exc),
            display_name=display_name,
            role=role,
        )
    return await _user_page(request, name, notice="Saved.")


@router.post("/{name}/password", response_class=HTMLResponse)
async def set_password(
    request: Request, name: str, principal: AdminPage, password: FormText = ""
) -> HTMLResponse:
    """Give a user a new password; their sessions end."""
    accounts = services_of(request).accounts
    try:
        await accounts.set_password(_known(name), password, actor_of(request, principal))
    except UserError as exc:
        if isinstance(exc, UserNotFound):
            return _not_found(request, exc)
        return await _user_page(request, name, status=_status(exc), error=str(exc))
    return await _user_page(request, name, notice="New password set; every session ended.")


@router.post("/{name}/disabled", response_class=HTMLResponse)
async def set_disabled(
    request: Request, name: str, principal: AdminPage, disabled: FormText = ""
) -> HTMLResponse:
    """Disable a user (their sessions end) or enable them again."""
    accounts = services_of(request).accounts
    off = disabled == "1"
    try:
        await accounts.update_user(_known(name), actor_of(request, principal), disabled=off)
    except UserError as exc:
        if isinstance(exc, UserNotFound):
            return _not_found(request, exc)
        return await _user_page(request, name, status=_status(exc), error=str(exc))
    return await _user_page(request, name, notice="Disabled." if off else "Enabled.")


@router.get("/{name}/remove", response_class=HTMLResponse)
async def confirm_remove(request: Request, name: str) -> HTMLResponse:
    """Ask before removing a user."""
    accounts = services_of(request).accounts
    try:
        user = await accounts.run(lambda: accounts.users.get(_known(name)))
    except UserError as exc:
        return _not_found(request, exc)
    return _page(request, "admin_user_remove.html", 200, title=f"Remove {user.name}", user=user)


@router.post("/{name}/remove", response_class=HTMLResponse)
async def remove_user(request: Request, name: str, principal: AdminPage) -> HTMLResponse:
    """Remove a user with their sessions and tokens (the confirmation page's button)."""
    accounts = services_of(request).accounts
    try:
        user = await accounts.remove_user(_known(name), actor_of(request, principal))
    except UserError as exc:
        if isinstance(exc, UserNotFound):
            return _not_found(request, exc)
        return await _user_page(request, name, status=_status(exc), error=str(exc))
    return await _users_page(request, notice=f"Removed {user.name}.")


async def _sessions_page(
    request: Request, name: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    accounts = services_of(request).accounts
    try:
        user = await accounts.run(lambda: accounts.users.get(_known(name)))
    except UserError as exc:
        return _not_found(request, exc)
    sessions = await accounts.run(lambda: accounts.sessions.of_user(user.id))
    rows = [SessionRow(s, short_agent(s.user_agent)) for s in sessions]
    title = f"Sessions of {user.name}"
    return _page(
        request, "admin_sessions.html", status, title=title, user=user, rows=rows, **context
    )


@router.get("/{name}/sessions", response_class=HTMLResponse)
async def sessions_page(request: Request, name: str) -> HTMLResponse:
    """A user's sessions: where they are signed in."""
    return await _sessions_page(request, name)


@router.post("/{name}/sessions/{session_id}/end", response_class=HTMLResponse)
async def end_session(
    request: Request, name: str, session_id: int, principal: AdminPage
) -> HTMLResponse:
    """End one session of the user; its open pages go to the sign-in page."""
    accounts = services_of(request).accounts
    try:
        user = await accounts.run(lambda: accounts.users.get(_known(name)))
    except UserError as exc:
        return _not_found(request, exc)
    owned = await accounts.run(lambda: accounts.sessions.of_user(user.id))
    if session_id not in {s.id for s in owned}:
        message = f"{user.name} has no session {session_id} (it may have ended)"
        return await _sessions_page(request, name, status=404, error=message)
    await accounts.end_session(session_id, actor_of(request, principal))
    return await _sessions_page(request, name, notice="Session ended.")


@router.post("/{name}/sessions/end-all", response_class=HTMLResponse)
async def end_all_sessions(request: Request, name: str, principal: AdminPage) -> HTMLResponse:
    """End every session of the user."""
    accounts = services_of(request).accounts
    try:
        _, ended = await accounts.sign_out_everywhere(_known(name), actor_of(request, principal))
    except UserError as exc:
        return _not_found(request, exc)
    return await _sessions_page(request, name, notice=f"{ended} sessions ended.")
