"""An accounts context on each supported database, with a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from app.accounts import Accounts, SessionLifetime
from app.bus import InProcessBus
from tests.factories import FakeClock

LIFETIME = SessionLifetime(idle=timedelta(days=7), absolute=timedelta(days=30))
PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> FakeClock:
    """The wall clock of the context under test."""
    return FakeClock()


@pytest.fixture
def bus() -> InProcessBus:
    """The bus the context announces on."""
    return InProcessBus()


@pytest.fixture
def accounts(engine: Engine, bus: InProcessBus, clock: FakeClock) -> Accounts:
    """The accounts context on a migrated, empty database."""
    return Accounts(engine, bus, clock, LIFETIME)
