"""The accounts context as the user commands open it: on the migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from app.accounts import Accounts, SessionLifetime
from app.bus import InProcessBus
from app.cli.schema import migrate
from app.config import Settings
from app.db import create_db_engine
from app.telemetry import utc_now


@contextmanager
def open_accounts(settings: Settings) -> Iterator[Accounts]:
    """The accounts context on the migrated database; its connections close after."""
    migrate(settings)
    engine = create_db_engine(settings)
    lifetime = SessionLifetime(
        idle=timedelta(days=settings.session_idle_days),
        absolute=timedelta(days=settings.session_max_days),
    )
    try:
        # The commands use only the blocking parts, which announce nothing on the bus:
        # a bus of this short-lived process would have no subscriber anyway.
        yield Accounts(engine, InProcessBus(), utc_now, lifetime)
    finally:
        engine.dispose()
