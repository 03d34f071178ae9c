"""Engines, sessions, the declarative base and the column types shared by every table.

SQLite gets the same pragmas on every new connection (WAL, busy timeout, foreign keys,
synchronous) because pragmas are per connection, not per file. SQLAlchemy, not the sqlite3
module, emits BEGIN, so that writers can ask for BEGIN IMMEDIATE: taking the write lock up
front lets the busy timeout apply, where a deferred transaction that upgrades to a write
would fail at once with "database is locked".
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Engine, MetaData, create_engine, event, exc
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_BEGIN_OPTION = "telemetry_sqlite_begin"

# Times in SQLite: integer microseconds since the Unix epoch, UTC. This is the one place
# that knows; Timestamp below, the write path's raw statements and the history queries'
# bucket arithmetic all use these.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode_time(moment: datetime) -> int:
    """An aware datetime as SQLite stores it: whole microseconds since the epoch."""
    return (moment - EPOCH) // MICROSECOND


def decode_time(micros: int) -> datetime:
    """The aware UTC datetime of a time SQLite stored (see encode_time)."""
    return EPOCH + timedelta(microseconds=micros)


def microseconds(span: timedelta) -> int:
    """A duration in whole microseconds, the unit of encoded times."""
    return span // MICROSECOND


class Base(DeclarativeBase):
    """Declarative base whose constraint names Alembic can reproduce."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class StorageUnavailable(Exception):
    """The database cannot take the write now (locked, full or unreachable); retry later."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Timestamp(TypeDecorator[datetime]):
    """An aware UTC datetime: integer microseconds in SQLite, timestamptz elsewhere.

    SQLite has no time type; integers are a third the size of ISO strings and compare
    and convert faster. Naive datetimes are refused: every time in the system is UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; attach UTC")
        if dialect.name == "sqlite":
            return encode_time(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return decode_time(value)
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for `settings.database_url`, with SQLite tuned for one writer."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if not url.database or url.database == ":memory:" or "mode=memory" in str(url):
        raise ValueError(
            "an in-memory SQLite database cannot be shared by the server's connections; "
            "give TELEMETRY_DATABASE_URL a file, such as sqlite:////var/lib/telemetry/t.db"
        )
    # Best effort: if the directory cannot be made, connecting says why, as a 503.
    with contextlib.suppress(OSError):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        # The writer thread and the request threadpool share the pool.
        connect_args={
            "check_same_thread": False,
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
        },
        pool_size=8,
        max_overflow=8,
    )
    busy_ms = settings.sqlite_busy_timeout_ms
    synchronous = settings.sqlite_synchronous

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def writer_engine(engine: Engine) -> Engine:
    """The same engine, but its transactions take the SQLite write lock when they begin."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def is_busy(error: exc.OperationalError) -> bool:
    """True when the error says another connection holds the lock."""
    message = str(error.orig).lower()
    return "locked" in message or "busy" in message


def _unavailable(message: str) -> StorageUnavailable:
    message = message.lower()
    if "locked" in message or "busy" in message:
        return StorageUnavailable("the database is busy", retry_after=2)
    if "full" in message or "no space" in message:
        return StorageUnavailable("the database disk is full", retry_after=60)
    if "no such table" in message or "does not exist" in message:
        return StorageUnavailable(
            "the database schema is missing; run `telemetry migrate`", retry_after=60
        )
    return StorageUnavailable("the database is unreachable", retry_after=5)


@contextmanager
def translate_storage_errors() -> Iterator[None]:
    """Turn a locked, full or unreachable database into StorageUnavailable."""
    try:
        yield
    except exc.OperationalError as error:
        raise _unavailable(str(error.orig)) from error
    except sqlite3.OperationalError as error:  # from the sqlite3 cursor used directly
        raise _unavailable(str(error)) from error
    except exc.DisconnectionError as error:
        raise StorageUnavailable("the database is unreachable", retry_after=5) from error
    except (exc.InternalError, exc.NotSupportedError) as error:
        raise StorageUnavailable(f"the database reported: {error.orig}", retry_after=60) from error
    except exc.DatabaseError as error:
        # Constraint violations and programming errors are bugs to surface as such;
        # anything else (a corrupt file, an I/O error) is the database's state.
        if type(error) is not exc.DatabaseError:
            raise
        raise StorageUnavailable(f"the database reported: {error.orig}", retry_after=60) from error
