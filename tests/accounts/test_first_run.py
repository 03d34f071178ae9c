"""The first admin: a one-time code while no user exists."""

from __future__ import annotations

import pytest

from app.accounts import CLI, Accounts, SetupClosed, UserError
from tests.accounts.conftest import PASSWORD


def test_the_code_creates_the_first_admin_once(accounts: Accounts) -> None:
    code = accounts.first_run.issue_code()
    assert code is not None and accounts.first_run.is_open(code)
    admin = accounts.first_run.create_admin(code, "boss", PASSWORD, display_name="", client="x")
    assert admin.is_admin
    assert not accounts.first_run.is_open(code)
    with pytest.raises(SetupClosed):
        accounts.first_run.create_admin(code, "eve", PASSWORD, display_name="", client="x")
    assert [u.name for u in accounts.users.list()] == ["boss"]


def test_no_code_is_issued_once_a_user_exists(accounts: Accounts) -> None:
    accounts.users.add("maria", PASSWORD, actor=CLI)
    assert accounts.first_run.issue_code() is None


def test_a_new_code_replaces_the_old_one(accounts: Accounts) -> None:
    old = accounts.first_run.issue_code()
    new = accounts.first_run.issue_code()
    assert old and new and old != new
    assert not accounts.first_run.is_open(old)
    assert accounts.first_run.is_open(new)


def test_a_refused_password_keeps_the_code_valid(accounts: Accounts) -> None:
    code = accounts.first_run.issue_code()
    assert code is not None
    with pytest.raises(UserError, match="at least 10"):
        accounts.first_run.create_admin(code, "boss", "short", display_name="", client="x")
    assert accounts.first_run.is_open(code)


def test_a_wrong_code_creates_nobody(accounts: Accounts) -> None:
    accounts.first_run.issue_code()
    with pytest.raises(SetupClosed):
        accounts.first_run.create_admin("guess", "boss", PASSWORD, display_name="", client="x")
    assert accounts.users.count() == 0
