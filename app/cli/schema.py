"""Bringing the database schema up to date: `telemetry migrate`, and before every command."""

from __future__ import annotations

import argparse
import logging

from sqlalchemy.engine import make_url

from app import schema_migrations
from app.config import Settings

# One logger for the whole command, as before it was a package: log filters keep working.
logger = logging.getLogger("app.cli")


def display_url(url: str) -> str:
    """The database URL as shown to people: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def migrate(settings: Settings) -> schema_migrations.Migrated:
    """Bring the schema up to date; say so on stderr only when a migration ran."""
    migrated = schema_migrations.upgrade(settings.database_url)
    if migrated.ran:
        logger.info(
            "migrated the database %s from revision %s to %s",
            display_url(settings.database_url),
            migrated.before or "(empty)",
            migrated.after,
        )
    return migrated


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    """Bring the database schema to the newest revision."""
    migrated = migrate(settings)
    where = display_url(settings.database_url)
    if migrated.ran:
        print(
            f"database {where} is at revision {migrated.after} "
            f"(migrated from {migrated.before or 'an empty database'})"
        )
    else:
        print(f"database {where} is at revision {migrated.after}: already up to date")
    return 0
