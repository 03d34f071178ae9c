"""Users and sessions for the benchmarks, created through the accounts context.

Users cost an Argon2 hash each (~40 ms), so a benchmark creates a few dozen and gives
each many sessions (`Sessions.create_many`: one transaction, no audit lines). Run after
the database is migrated (bench/ingest.py `prepare_database`) and before the server
starts, so that no setup code is printed and the server finds the sessions.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from app.accounts import CLI, Accounts, SessionLifetime
from app.bus import InProcessBus
from app.config import Settings
from app.db import create_db_engine
from app.telemetry import Clock, utc_now

PASSWORD = "a long benchmark password"


def _accounts(database_url: str, clock: Clock = utc_now) -> Accounts:
    engine = create_db_engine(Settings(database_url=database_url))
    lifetime = SessionLifetime(idle=timedelta(days=7), absolute=timedelta(days=30))
    return Accounts(engine, InProcessBus(), clock, lifetime)


def create_users(database_url: str, count: int, prefix: str = "viewer") -> list[str]:
    """`count` viewers named PREFIX0, PREFIX1, ... with the password PASSWORD."""
    accounts = _accounts(database_url)
    return [
        accounts.users.add(f"{prefix}{i}", PASSWORD, role="viewer", actor=CLI).name
        for i in range(count)
    ]


def create_sessions(
    database_url: str,
    users: int,
    per_user: int,
    *,
    prefix: str = "viewer",
    seen_minutes_ago: float = 0.0,
) -> list[str]:
    """`users` new viewers (PREFIX0, ...) with `per_user` sessions each; the cookie values.

    With `seen_minutes_ago`, the sessions were begun and last seen that long ago: a
    lookup then also writes the session's last-seen time (once a minute per session),
    as when browsers come back after a while.
    """
    shift = timedelta(minutes=seen_minutes_ago)
    accounts = _accounts(database_url, lambda: utc_now() - shift)

    def one(i: int) -> list[str]:
        user = accounts.users.add(f"{prefix}{i}", PASSWORD, role="viewer", actor=CLI)
        return accounts.sessions.create_many(user, per_user, client="bench")

    # Two threads: Argon2 releases the GIL while it hashes, so a thousand users take
    # half as long on two cores; SQLite's busy timeout orders the two writers.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [cookie for cookies in pool.map(one, range(users)) for cookie in cookies]


def create_admin_token(database_url: str, name: str = "benchadmin") -> str:
    """An admin named `name` and a personal token of theirs (`Authorization: Bearer`)."""
    accounts = _accounts(database_url)
    accounts.users.add(name, PASSWORD, role="admin", actor=CLI)
    token, _info = accounts.tokens.create(name, actor=CLI)
    return token
