"""Sessions: a random id per sign-in, stored as a digest, ended by idle time, age or hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from app.accounts import CLI, Accounts, SessionLifetime, SessionsEnded
from app.bus import InProcessBus
from tests.accounts.conftest import PASSWORD
from tests.factories import T0, FakeClock


def _signed_in(accounts: Accounts, name: str = "maria") -> tuple[str, int]:
    user = accounts.users.add(name, PASSWORD, actor=CLI)
    raw, signed_in = accounts.sessions.create(
        user, persistent=True, client="192.0.2.1", user_agent="Firefox"
    )
    return raw, signed_in.session_id


def test_expiry_is_the_earlier_of_idle_and_absolute_limits() -> None:
    lifetime = SessionLifetime(idle=timedelta(days=7), absolute=timedelta(days=30))
    assert lifetime.expires_at(T0, T0) == T0 + timedelta(days=7)
    assert lifetime.expires_at(T0, T0 + timedelta(days=20)) == T0 + timedelta(days=27)
    assert lifetime.expires_at(T0, T0 + timedelta(days=29)) == T0 + timedelta(days=30)


def test_a_session_ends_after_the_idle_time_without_use(
    accounts: Accounts, clock: FakeClock
) -> None:
    raw, _ = _signed_in(accounts)
    clock.advance(timedelta(days=7).total_seconds() - 1)
    assert accounts.sessions.lookup(raw) is not None  # used: idle time starts again
    clock.advance(timedelta(days=7).total_seconds() - 1)
    assert accounts.sessions.lookup(raw) is not None
    clock.advance(timedelta(days=7).total_seconds())
    assert accounts.sessions.lookup(raw) is None


def test_a_session_used_daily_still_ends_at_the_absolute_limit(
    accounts: Accounts, clock: FakeClock
) -> None:
    raw, _ = _signed_in(accounts)
    for _ in range(29):
        clock.advance(timedelta(days=1).total_seconds())
        assert accounts.sessions.lookup(raw) is not None
    clock.advance(timedelta(days=1).total_seconds())
    assert accounts.sessions.lookup(raw) is None


def test_last_seen_is_written_at_most_once_a_minute(
    accounts: Accounts, clock: FakeClock, engine: Engine
) -> None:
    raw, session_id = _signed_in(accounts)

    def last_seen() -> object:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT last_seen_at FROM user_sessions WHERE id = :id"), {"id": session_id}
            ).scalar()

    first = last_seen()
    clock.advance(59)
    accounts.sessions.lookup(raw)
    assert last_seen() == first
    clock.advance(2)
    accounts.sessions.lookup(raw)
    assert last_seen() != first


def test_every_sign_in_gets_a_new_id_and_only_its_digest_is_stored(
    accounts: Accounts, engine: Engine
) -> None:
    user = accounts.users.add("maria", PASSWORD, actor=CLI)
    ids = {
        accounts.sessions.create(user, persistent=False, client="a", user_agent="b")[0]
        for _ in range(3)
    }
    assert len(ids) == 3
    with engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT id_hash FROM user_sessions"))]
    assert len(stored) == 3
    assert not ids & set(stored)


def test_garbage_and_unknown_cookies_open_nothing(accounts: Accounts) -> None:
    _signed_in(accounts)
    for value in ("", "x", "a" * 43, "' OR 1=1 --", "\x00" * 43):
        assert accounts.sessions.lookup(value) is None


@pytest.mark.anyio
async def test_a_disabled_users_sessions_end_and_the_bus_is_told(
    accounts: Accounts, bus: InProcessBus
) -> None:
    accounts.users.add("boss", PASSWORD, role="admin", actor=CLI)
    raw, _ = _signed_in(accounts)
    ended = bus.subscribe(SessionsEnded)
    user = await accounts.update_user("maria", CLI, disabled=True)
    assert accounts.sessions.lookup(raw) is None
    assert await ended.get() == SessionsEnded(user.id)


@pytest.mark.anyio
async def test_one_session_ended_by_an_admin_is_announced_by_its_id(
    accounts: Accounts, bus: InProcessBus
) -> None:
    kept, _ = _signed_in(accounts)
    user = accounts.users.get("maria")
    raw, signed_in = accounts.sessions.create(user, persistent=False, client="b", user_agent="c")
    ended = bus.subscribe(SessionsEnded)
    await accounts.end_session(signed_in.session_id, CLI)
    assert await ended.get() == SessionsEnded(user.id, (signed_in.session_id,))
    assert accounts.sessions.lookup(raw) is None
    assert accounts.sessions.lookup(kept) is not None


def test_sign_out_everywhere_ends_every_session_of_that_user_only(accounts: Accounts) -> None:
    raw1, _ = _signed_in(accounts)
    user = accounts.users.get("maria")
    raw2, _ = accounts.sessions.create(user, persistent=False, client="b", user_agent="c")
    other, _ = _signed_in(accounts, "jonas")
    _, count = accounts.sessions.end_all("maria", actor=CLI)
    assert count == 2
    assert accounts.sessions.lookup(raw1) is None
    assert accounts.sessions.lookup(raw2) is None
    assert accounts.sessions.lookup(other) is not None


def test_still_valid_names_the_sessions_that_hold(accounts: Accounts, clock: FakeClock) -> None:
    _, kept = _signed_in(accounts)
    _, ended = _signed_in(accounts, "jonas")
    accounts.sessions.end(ended, actor=CLI)
    assert accounts.sessions.still_valid([kept, ended, 999]) == {kept}
    clock.advance(timedelta(days=8).total_seconds())
    assert accounts.sessions.still_valid([kept]) == set()


def test_prune_deletes_only_expired_sessions(accounts: Accounts, clock: FakeClock) -> None:
    old, _ = _signed_in(accounts)
    clock.advance(timedelta(days=6).total_seconds())
    fresh, _ = _signed_in(accounts, "jonas")
    clock.advance(timedelta(days=2).total_seconds())
    assert accounts.sessions.prune() == 1
    assert accounts.sessions.lookup(old) is None
    assert accounts.sessions.lookup(fresh) is not None


def test_session_ids_are_never_reused(accounts: Accounts) -> None:
    # Live streams are matched to sessions by id: a new sign-in must not take the id
    # of the newest session just ended (SQLite's default without AUTOINCREMENT).
    _, first = _signed_in(accounts)
    accounts.sessions.end(first, actor=CLI)
    _, second = _signed_in(accounts, "jonas")
    assert second > first
