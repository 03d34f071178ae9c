"""The first admin: while no user exists, a one-time code lets one be created.

`telemetry serve` issues the code before the server starts (and before any worker
does), prints the setup address carrying it, and stores only its digest. Creating the
admin deletes the code in the same transaction, so it works once, even when two
browsers race, and a new code is issued only while there is still no user.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts import audit
from app.accounts.audit import Actor
from app.accounts.credentials import digest
from app.accounts.models import SetupCode, User
from app.accounts.user_rules import UserError
from app.accounts.users import UserInfo, Users
from app.db import translate_storage_errors
from app.telemetry import Clock


class SetupClosed(UserError):
    """The code is wrong or used, or the first admin exists already."""


class FirstRun:
    """Issuing and redeeming the setup code."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, users: Users) -> None:
        self._sessions = sessions
        self._clock = clock
        self._users = users

    def issue_code(self) -> str | None:
        """A new setup code (any earlier one dies), or None when a user exists already."""
        code = secrets.token_urlsafe(18)
        with translate_storage_errors(), self._sessions.begin() as session:
            if session.scalar(select(func.count()).select_from(User)):
                return None
            session.execute(delete(SetupCode))
            session.add(SetupCode(code_hash=digest(code), created_at=self._clock()))
        return code

    def is_open(self, code: str) -> bool:
        """True while `code` would create the first admin."""
        with translate_storage_errors(), self._sessions() as session:
            if session.scalar(select(func.count()).select_from(User)):
                return False
            return (
                session.scalar(select(SetupCode.id).where(SetupCode.code_hash == digest(code)))
                is not None
            )

    def create_admin(
        self, code: str, name: str, password: str, *, display_name: str, client: str
    ) -> UserInfo:
        """Create the first admin with the code, which dies with it; SetupClosed if it cannot."""
        with translate_storage_errors(), self._sessions.begin() as session:
            used = session.execute(delete(SetupCode).where(SetupCode.code_hash == digest(code)))
            if not used.rowcount or session.scalar(  # type: ignore[attr-defined]
                select(func.count()).select_from(User)
            ):
                raise SetupClosed(
                    "this setup address has been used or replaced: sign in, or restart "
                    "`telemetry serve` for a new one while no user exists"
                )
            admin = self._users.add(
                name,
                password,
                role="admin",
                display_name=display_name,
                actor=Actor(None, client),
                session=session,
            )
            audit.record(
                session, self._clock(), audit.SETUP_DONE, Actor(admin.name, client), admin.name
            )
            return admin
