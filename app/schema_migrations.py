"""Alembic, driven from code: upgrade to head, and tell whether a database is current."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from app.resources import resource_path

# env.py writes the revisions it found and left here, in the config's attributes.
BEFORE, AFTER = "telemetry_revision_before", "telemetry_revision_after"


class MigrationRefused(Exception):
    """A migration cannot run on the data the database holds; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Migrated:
    """What an upgrade did: the revision the database was at (None: empty) and is at now."""

    before: str | None
    after: str | None

    @property
    def ran(self) -> bool:
        """True when at least one migration was applied."""
        return self.before != self.after


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for `database_url`, independent of the working directory."""
    config = Config(str(resource_path("alembic.ini")))
    config.set_main_option("script_location", str(resource_path("migrations")))
    # Alembic's ini interpolation treats % specially; URLs may contain it (passwords).
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Hide Alembic's INFO lines ("Context impl SQLiteImpl", ...): callers say what ran."""
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    alembic_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_logger.setLevel(level)


def upgrade(database_url: str) -> Migrated:
    """Bring the schema to the newest revision (a no-op when it already is).

    Raises MigrationRefused when a migration cannot apply to the data present.
    """
    config = alembic_config(database_url)
    with _quiet_alembic():
        command.upgrade(config, "head")
    return Migrated(config.attributes.get(BEFORE), config.attributes.get(AFTER))


def head_revision() -> str | None:
    """The newest revision the migrations define."""
    config = alembic_config("sqlite://")
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with _quiet_alembic(), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
