"""Alembic environment: the database comes from the same Settings the server reads."""

from __future__ import annotations

import logging.config
import os

from alembic import context

# Imported for what importing does: the models register their tables on Base.metadata.
import app.accounts.models
import app.telemetry.models  # noqa: F401
from app.config import Settings
from app.db import Base, create_db_engine
from app.schema_migrations import AFTER, BEFORE

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

url = config.get_main_option("sqlalchemy.url")
settings = Settings.from_environ(os.environ, **({"database_url": url} if url else {}))


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (alembic upgrade --sql)."""
    context.configure(
        url=settings.database_url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=settings.database_url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate through a real connection, with the server's SQLite pragmas."""
    engine = create_db_engine(settings)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            # Recorded for app.schema_migrations.upgrade, which reports what ran.
            config.attributes[BEFORE] = context.get_context().get_current_revision()
            with context.begin_transaction():
                context.run_migrations()
            config.attributes[AFTER] = context.get_context().get_current_revision()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
