"""Users: names, passwords a person can live with, roles, and the last admin kept."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from app.accounts import CLI, Accounts, UserError, UserNotFound
from tests.accounts.conftest import PASSWORD


@pytest.mark.parametrize(
    "name", ["", "-maria", "_x", "a" * 33, "ma ria", "maría", "Maria", "a/b", "a\x00"]
)
def test_user_names_outside_the_rule_are_refused(accounts: Accounts, name: str) -> None:
    with pytest.raises(UserError):
        accounts.users.add(name, PASSWORD, actor=CLI)


def test_an_uppercase_name_is_refused_with_its_lowercase_form(accounts: Accounts) -> None:
    with pytest.raises(UserError, match="'maria'"):
        accounts.users.add("Maria", PASSWORD, actor=CLI)


@pytest.mark.parametrize(
    ("password", "why"),
    [("short", "at least 10"), ("maria", "at least 10"), ("marialongname", "user name")],
)
def test_passwords_are_refused_only_for_length_or_being_the_name(
    accounts: Accounts, password: str, why: str
) -> None:
    name = "marialongname" if why == "user name" else "maria"
    with pytest.raises(UserError, match=why):
        accounts.users.add(name, password, actor=CLI)


def test_a_password_of_ten_characters_of_any_kind_is_accepted(accounts: Accounts) -> None:
    accounts.users.add("maria", "aaaaaaaaaa", actor=CLI)
    accounts.users.add("jonas", "ü" * 10, actor=CLI)
    assert accounts.users.authenticate("jonas", "ü" * 10) is not None


def test_the_password_is_stored_as_an_argon2id_hash(accounts: Accounts, engine: Engine) -> None:
    accounts.users.add("maria", PASSWORD, actor=CLI)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_sign_in_needs_the_right_password_and_an_enabled_user(accounts: Accounts) -> None:
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    accounts.users.add("maria", PASSWORD, actor=CLI)
    assert accounts.users.authenticate("maria", PASSWORD) is not None
    assert accounts.users.authenticate("MARIA ", PASSWORD) is not None  # as typed
    assert accounts.users.authenticate("maria", PASSWORD + "x") is None
    accounts.users.update("maria", actor=CLI, disabled=True)
    assert accounts.users.authenticate("maria", PASSWORD) is None


def test_an_unknown_name_takes_as_long_as_a_wrong_password(accounts: Accounts) -> None:
    accounts.users.add("maria", PASSWORD, actor=CLI)

    def timed(name: str) -> float:
        start = time.perf_counter()
        for _ in range(5):
            accounts.users.authenticate(name, "wrong password")
        return time.perf_counter() - start

    timed("nobody")  # the dummy hash is made once, on first use
    known, unknown = timed("maria"), timed("nobody")
    # Both run one Argon2 verification each time; a skipped one would be 100x faster.
    assert unknown > known / 3


def test_names_are_unique(accounts: Accounts) -> None:
    accounts.users.add("maria", PASSWORD, actor=CLI)
    with pytest.raises(UserError, match="already exists"):
        accounts.users.add("maria", PASSWORD, actor=CLI)


def test_display_names_take_any_text_but_control_characters(accounts: Accounts) -> None:
    user = accounts.users.add("maria", PASSWORD, display_name="<b>María</b> & co", actor=CLI)
    assert user.display_name == "<b>María</b> & co"
    assert accounts.users.add("jonas", PASSWORD, actor=CLI).display_name == "jonas"
    with pytest.raises(UserError, match="control"):
        accounts.users.add("eve", PASSWORD, display_name="a\nevent: x", actor=CLI)


def test_the_last_active_admin_is_neither_demoted_disabled_nor_removed(
    accounts: Accounts,
) -> None:
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    for change in (
        lambda: accounts.users.update("boss", actor=CLI, role="viewer"),
        lambda: accounts.users.update("boss", actor=CLI, disabled=True),
        lambda: accounts.users.remove("boss", actor=CLI),
    ):
        with pytest.raises(UserError, match="only active admin"):
            change()
    accounts.users.add("second", PASSWORD, role="admin", actor=CLI)
    accounts.users.update("boss", actor=CLI, role="viewer")
    assert accounts.users.get("boss").role == "viewer"


def test_removing_a_user_removes_their_sessions_and_tokens(
    accounts: Accounts, engine: Engine
) -> None:
    user = accounts.users.add("maria", PASSWORD, actor=CLI)
    accounts.sessions.create(user, persistent=False, client="a", user_agent="b")
    token, _ = accounts.tokens.create("maria", actor=CLI)
    accounts.users.remove("maria", actor=CLI)
    assert accounts.tokens.authenticate(token) is None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM user_sessions")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 0
    with pytest.raises(UserNotFound):
        accounts.users.get("maria")


def test_every_change_leaves_an_audit_line(accounts: Accounts) -> None:
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    accounts.users.add("maria", PASSWORD, actor=CLI)
    accounts.users.update("maria", actor=CLI, role="admin")
    accounts.users.remove("maria", actor=CLI)
    actions = [(e.action, e.subject, e.actor) for e in accounts.audit.page(limit=10)]
    assert actions == [
        ("user removed", "maria", "cli"),
        ("user changed", "maria", "cli"),
        ("user added", "maria", "cli"),
        ("user added", "boss", "cli"),
    ]


@pytest.mark.parametrize("name", ["a\x00b", "\x00", "Ma\x00ria", "x" * 500])
def test_names_no_user_can_have_are_never_sent_to_the_database(
    accounts: Accounts, name: str
) -> None:
    # PostgreSQL refuses a NUL in text outright: such a name must not reach it.
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    assert accounts.users.authenticate(name, PASSWORD) is None
    with pytest.raises(UserNotFound):
        accounts.users.get(name)
    with pytest.raises(UserNotFound):
        accounts.sessions.end_all(name, actor=CLI)
    with pytest.raises(UserNotFound):
        accounts.tokens.of_user(name)
    accounts.record_failed_sign_in(name, "192.0.2.1")
    assert accounts.audit.page(limit=1)[0].subject == "(not a user name)"


def test_a_new_password_and_other_changes_are_all_or_nothing(accounts: Accounts) -> None:
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    accounts.users.add("maria", PASSWORD, actor=CLI)
    with pytest.raises(UserError, match="at least 10"):
        accounts.users.update("maria", actor=CLI, role="admin", password="short")
    assert accounts.users.get("maria").role == "viewer"
    user, ended = accounts.users.update("maria", actor=CLI, role="admin", password="x" * 12)
    assert user.role == "admin" and ended
    assert accounts.users.authenticate("maria", "x" * 12) is not None
