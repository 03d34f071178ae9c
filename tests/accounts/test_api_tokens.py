"""Personal tokens: shown once, stored as a digest, listed by prefix, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from app.accounts import CLI, Accounts, UserError
from tests.accounts.conftest import PASSWORD
from tests.factories import FakeClock


def test_a_token_opens_its_users_role_until_revoked(accounts: Accounts) -> None:
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    token, info = accounts.tokens.create("boss", actor=CLI)
    assert token.startswith("tlp_") and token.startswith(info.prefix)
    holder = accounts.tokens.authenticate(token)
    assert holder is not None and holder.user.is_admin
    accounts.tokens.revoke("boss", info.prefix, actor=CLI)
    assert accounts.tokens.authenticate(token) is None


def test_only_the_digest_is_stored(accounts: Accounts, engine: Engine) -> None:
    accounts.users.add("maria", PASSWORD, actor=CLI)
    token, _ = accounts.tokens.create("maria", actor=CLI)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT token_hash, prefix FROM api_tokens")).one()
    assert token not in row.token_hash and len(row.prefix) < len(token)


def test_last_used_is_listed(accounts: Accounts, clock: FakeClock) -> None:
    accounts.users.add("maria", PASSWORD, actor=CLI)
    token, _ = accounts.tokens.create("maria", actor=CLI)
    assert accounts.tokens.of_user("maria")[0].last_used_at is None
    clock.advance(5)
    accounts.tokens.authenticate(token)
    assert accounts.tokens.of_user("maria")[0].last_used_at == clock.now


def test_a_disabled_users_token_opens_nothing(accounts: Accounts) -> None:
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    accounts.users.add("maria", PASSWORD, actor=CLI)
    token, _ = accounts.tokens.create("maria", actor=CLI)
    accounts.users.update("maria", actor=CLI, disabled=True)
    assert accounts.tokens.authenticate(token) is None


def test_revoking_by_an_unknown_prefix_says_so(accounts: Accounts) -> None:
    accounts.users.add("maria", PASSWORD, actor=CLI)
    accounts.tokens.create("maria", actor=CLI)
    with pytest.raises(UserError, match="no token starting"):
        accounts.tokens.revoke("maria", "tlp_nothing", actor=CLI)
    with pytest.raises(UserError, match="no token starting"):
        accounts.tokens.revoke("maria", "", actor=CLI)


def test_device_tokens_and_garbage_are_not_personal_tokens(accounts: Accounts) -> None:
    for value in ("tlm_" + "a" * 43, "tlp_short", "", "Bearer x"):
        assert accounts.tokens.authenticate(value) is None
