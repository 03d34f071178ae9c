"""Shared fixtures: migrated databases (SQLite always, PostgreSQL when configured), apps, servers.

PostgreSQL tests run when TELEMETRY_TEST_POSTGRES_URL names a server, for example
postgresql+psycopg://postgres@127.0.0.1:5432/test; each test gets its own schema.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app import schema_migrations
from app.db import create_db_engine
from app.main import create_app
from tests.factories import make_settings
from tests.servers import LiveServer, run_live_server

# anyio imports its file functions on first use. Starlette's first static file would do
# it in a test server's thread while pytest's import hook compiles in another, and
# CPython 3.11's parser is not safe for that ("AST constructor recursion depth
# mismatch", an empty answer): import them here, once, before any server runs.
anyio.open_file  # noqa: B018

POSTGRES_URL = os.environ.get("TELEMETRY_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("TELEMETRY_TEST_REDIS_URL", "")
# CI sets this: a test that needs PostgreSQL or Redis then fails instead of skipping.
REQUIRE_SERVICES = os.environ.get("TELEMETRY_REQUIRE_SERVICES") == "1"


def skip_without(url: str, what: str) -> None:
    """Skip (or, in CI, fail) a test whose service is not configured."""
    if url:
        return
    message = f"{what} tests need TELEMETRY_TEST_{what.upper()}_URL (see tests/conftest.py)"
    if REQUIRE_SERVICES:
        pytest.fail(message + " and TELEMETRY_REQUIRE_SERVICES=1 is set")
    pytest.skip(message)


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated once; each test copies it (a migration per test is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    schema_migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _migrated_sqlite_template: Path) -> str:
    """A fresh SQLite database file built by the migrations."""
    path = tmp_path / "telemetry.db"
    shutil.copy(_migrated_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL schema; skipped without TELEMETRY_TEST_POSTGRES_URL."""
    skip_without(POSTGRES_URL, "Postgres")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={name}"})
    rendered = url.render_as_string(hide_password=False)
    schema_migrations.upgrade(rendered)
    try:
        yield rendered
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each supported database in turn, migrated and empty."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on each supported database in turn (database_url), disposed after."""
    engine = create_db_engine(make_settings(database_url))
    yield engine
    engine.dispose()


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(sqlite_url: str) -> AppFactory:
    """Build an app on the test's SQLite database, with settings overrides."""

    def factory(*, clock: Callable[[], datetime] | None = None, **overrides: Any) -> FastAPI:
        settings = make_settings(overrides.pop("database_url", sqlite_url), **overrides)
        return create_app(settings, clock=clock) if clock else create_app(settings)

    return factory


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    """An in-process client of an app on a fresh SQLite database (lifespan running)."""
    with TestClient(make_app()) as test_client:
        yield test_client


@pytest.fixture
def live_server(sqlite_url: str) -> Iterator[LiveServer]:
    """A real uvicorn server on a loopback port, serving a fresh SQLite database."""
    with run_live_server(make_settings(sqlite_url)) as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, as the server does."""
    return "asyncio"
