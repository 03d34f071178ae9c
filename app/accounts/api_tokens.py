"""Personal API tokens: a user's role for scripts (`Authorization: Bearer tlp_...`).

A token is shown once; the table keeps its digest and its first characters, which
name it in lists and when revoking it. Last used is written at most once a minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.accounts import audit
from app.accounts.audit import Actor
from app.accounts.credentials import digest, looks_like_personal_token, new_personal_token
from app.accounts.models import TOKEN_PREFIX_LENGTH, ApiToken, User
from app.accounts.user_rules import UserError
from app.accounts.users import UserInfo, find_user, user_info
from app.db import translate_storage_errors
from app.telemetry import Clock

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A personal token as listed: never the token itself."""

    id: int
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """The user a valid personal token belongs to."""

    token_id: int
    user: UserInfo


class ApiTokens:
    """Personal tokens in the database; the only code that touches the api_tokens table."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def create(self, user_name: str, *, actor: Actor) -> tuple[str, TokenInfo]:
        """A new token for the user; returns the token, which is not stored anywhere."""
        token = new_personal_token()
        now = self._clock()
        with translate_storage_errors(), self._sessions.begin() as session:
            user = find_user(session, user_name)
            row = ApiToken(
                token_hash=digest(token),
                prefix=token[:TOKEN_PREFIX_LENGTH],
                user_id=user.id,
                created_at=now,
            )
            session.add(row)
            session.flush()
            audit.record(session, now, audit.TOKEN_CREATED, actor, user.name, row.prefix)
            return token, _info(row)

    def of_user(self, user_name: str) -> Sequence[TokenInfo]:
        """A user's tokens, newest first."""
        with translate_storage_errors(), self._sessions() as session:
            user = find_user(session, user_name)
            query = (
                select(ApiToken)
                .where(ApiToken.user_id == user.id)
                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
            )
            return [_info(row) for row in session.scalars(query)]

    def revoke(self, user_name: str, prefix: str, *, actor: Actor) -> TokenInfo:
        """Delete the user's token that starts with `prefix` (as listed, or the whole token)."""
        prefix = prefix.strip()[:TOKEN_PREFIX_LENGTH]
        now = self._clock()
        with translate_storage_errors(), self._sessions.begin() as session:
            user = find_user(session, user_name)
            # LIKE would read the token's `_` as "any character", and in SQLite it ignores
            # case: escape it, and keep only the rows whose prefix matches exactly.
            query = select(ApiToken).where(
                ApiToken.user_id == user.id, ApiToken.prefix.startswith(prefix, autoescape=True)
            )
            rows = [row for row in session.scalars(query) if row.prefix.startswith(prefix)]
            if not prefix or not rows:
                raise UserError(f"{user.name!r} has no token starting with {prefix!r}")
            if len(rows) > 1:
                raise UserError(f"{len(rows)} tokens of {user.name!r} start with {prefix!r}")
            info = _info(rows[0])
            session.delete(rows[0])
            audit.record(session, now, audit.TOKEN_REVOKED, actor, user.name, info.prefix)
            return info

    def still_valid(self, token_ids: Sequence[int]) -> set[int]:
        """Which of these tokens still exist and belong to an enabled user."""
        valid: set[int] = set()
        with translate_storage_errors(), self._sessions() as session:
            for start in range(0, len(token_ids), 500):
                query = (
                    select(ApiToken.id)
                    .join(User, User.id == ApiToken.user_id)
                    .where(ApiToken.id.in_(token_ids[start : start + 500]))
                    .where(User.disabled.is_(False))
                )
                valid.update(session.scalars(query))
        return valid

    def authenticate(self, token: str) -> TokenHolder | None:
        """The active user holding this token, or None; refreshes its last use."""
        if not looks_like_personal_token(token):
            return None
        query = (
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest(token))
        )
        now = self._clock()
        with translate_storage_errors(), self._sessions() as session:
            found = session.execute(query).first()
            if found is None:
                return None
            row, user = found
            if user.disabled:
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
                session.execute(
                    update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
                )
                session.commit()
            return TokenHolder(row.id, user_info(user))


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.id, row.prefix, row.created_at, row.last_used_at)
