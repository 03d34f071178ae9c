"""Users, sessions and tokens made through the accounts context, for tests of access.

As with devices (tests/factories.py), entities are made through the context's public
functions, never with raw SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.accounts import CLI, Role
from app.web.auth import SESSION_COOKIE
from app.web.csrf import csrf_token_for

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Account:
    """A user with a signed-in session and a personal token."""

    name: str
    cookie: str
    csrf: str
    token: str

    @property
    def cookies(self) -> dict[str, str]:
        """The session cookie, as a client sends it."""
        return {SESSION_COOKIE: self.cookie}

    @property
    def bearer(self) -> dict[str, str]:
        """The Authorization header of the personal token."""
        return {"Authorization": f"Bearer {self.token}"}

    def form_headers(self, origin: str) -> dict[str, str]:
        """What a page of this site sends with a change: its CSRF token and Origin."""
        return {"X-CSRF-Token": self.csrf, "Origin": origin}


def make_account(app: Any, name: str, role: Role = "viewer", display_name: str = "") -> Account:
    """Create a user in `app`'s database, sign them in, and give them a personal token."""
    accounts = app.state.services.accounts
    user = accounts.users.add(name, PASSWORD, role=role, display_name=display_name, actor=CLI)
    cookie, _ = accounts.sessions.create(
        user, persistent=False, client="127.0.0.1", user_agent="pytest"
    )
    token, _ = accounts.tokens.create(name, actor=CLI)
    return Account(name, cookie, csrf_token_for(cookie), token)
