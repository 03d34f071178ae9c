"""Signed-in users for the tests of admin pages and the management API: made through the
accounts context, never with SQL."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.accounts import CLI, Role, UserInfo
from app.web.auth import SESSION_COOKIE
from app.web.csrf import csrf_token_for

PASSWORD = "a long password"
ORIGIN = "http://testserver"


def add_user(app: FastAPI, name: str, role: Role = "viewer", display_name: str = "") -> UserInfo:
    """A user with the test password."""
    user: UserInfo = app.state.services.accounts.users.add(
        name, PASSWORD, role=role, display_name=display_name, actor=CLI
    )
    return user


def personal_token(app: FastAPI, name: str, role: Role = "admin") -> str:
    """A new user of `role` and a personal token of theirs."""
    add_user(app, name, role)
    token: str = app.state.services.accounts.tokens.create(name, actor=CLI)[0]
    return token


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a personal (or device) token."""
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: TestClient, name: str, role: Role = "admin", display_name: str = "") -> str:
    """Create a user, sign the client in as them (session cookie) and return the CSRF
    token; the client then sends it, and a same-site Origin, with every request."""
    app = client.app
    assert isinstance(app, FastAPI)
    user = add_user(app, name, role, display_name)
    raw, _ = app.state.services.accounts.sessions.create(
        user, persistent=False, client="testclient", user_agent="pytest"
    )
    client.cookies.set(SESSION_COOKIE, raw)
    csrf = csrf_token_for(raw)
    client.headers.update({"X-CSRF-Token": csrf, "Origin": ORIGIN})
    return csrf


def without_csrf(client: TestClient) -> None:
    """Stop sending the CSRF header (forms then carry the token, or not)."""
    client.headers.pop("X-CSRF-Token", None)
