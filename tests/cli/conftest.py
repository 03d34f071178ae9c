"""The `telemetry` command run in-process through main(), on a migrated SQLite database."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.accounts import Accounts, SessionLifetime
from app.bus import InProcessBus
from app.cli import main
from app.db import create_db_engine
from app.telemetry import utc_now
from tests.factories import make_settings


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit status and what it printed."""

    status: int
    out: str
    err: str


Telemetry = Callable[..., Ran]
LIFETIME = SessionLifetime(idle=timedelta(days=7), absolute=timedelta(days=30))


@pytest.fixture
def telemetry(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Telemetry:
    """Run `telemetry ARGS` on the test's database, with `stdin` as its standard input."""

    def run(*argv: str, stdin: str = "") -> Ran:
        # A StringIO is no terminal, as a pipe is not.
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = main(list(argv), {"TELEMETRY_DATABASE_URL": sqlite_url})
        out, err = capsys.readouterr()
        return Ran(status, out, err)

    return run


AccountsAt = Callable[[Path], Accounts]


@pytest.fixture
def accounts_at() -> Iterator[AccountsAt]:
    """The accounts context on DIRECTORY/cli.db, where the subprocess tests keep theirs."""
    engines: list[Engine] = []

    def build(directory: Path) -> Accounts:
        engines.append(create_db_engine(make_settings(f"sqlite:///{directory / 'cli.db'}")))
        return Accounts(engines[-1], InProcessBus(), utc_now, LIFETIME)

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def accounts(sqlite_url: str) -> Iterator[Accounts]:
    """The accounts context on the test's database, to see what the commands did."""
    engine = create_db_engine(make_settings(sqlite_url))
    yield Accounts(engine, InProcessBus(), utc_now, LIFETIME)
    engine.dispose()
