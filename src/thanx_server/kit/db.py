"""Engines, sessions and the portable column types: the one place that knows SQLite from PostgreSQL.

SQLite setup lives here and only here:

* ``foreign_keys=ON`` (SQLite ignores REFERENCES otherwise);
* ``journal_mode=WAL`` so readers never block the writer, ``synchronous=NORMAL`` (safe with WAL);
* ``busy_timeout`` so a second writer waits instead of failing at once;
* the driver's own transaction handling is switched off and we emit ``BEGIN`` ourselves, because
  pysqlite's implicit transactions break SAVEPOINT and cannot express ``BEGIN IMMEDIATE``.
  Requests that write (any method but GET/HEAD/OPTIONS) and worker claims begin with
  ``BEGIN IMMEDIATE``: they take the write lock up front, so two writers queue on the busy timeout
  instead of deadlocking when both try to upgrade a read lock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from thanx_server.kit.fastread import DriverReads

SQLITE_BEGIN_OPTION = "thanx_sqlite_begin"
SQLITE_BUSY_TIMEOUT_MS = 30_000


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    Naive datetimes are refused on the way in (they are always a bug here). SQLite has no
    timezone-aware type, so values are stored as naive UTC there and made aware on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Create the engine. Called from the app lifespan or a CLI command, never at import.

    ``hide_parameters``: a database error's message (which reaches the log) never carries bound
    values, which may be emails or phone numbers.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, connect_args={"timeout": 30}
        )
        _configure_sqlite(engine)
        return engine
    # A fixed-size pool: overflow connections reconnect per request and cost throughput.
    # No pre-ping: it costs three round trips per checkout (BEGIN, ping, ROLLBACK). A connection
    # that died is detected by its first failing statement, which invalidates the whole pool, so
    # after an outage one request per process fails (503) and the next ones reconnect.
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=30,
        hide_parameters=True,
    )


@dataclass(frozen=True, slots=True)
class Database:
    """The engine, two session factories and the fast read path.

    ``read_sessions`` serve GET/HEAD/OPTIONS requests (autocommit on PostgreSQL, a deferred
    transaction on SQLite); ``write_sessions`` everything else (a transaction; ``BEGIN IMMEDIATE``
    on SQLite, so the write lock is taken up front). ``reads`` runs the hot reads
    (``kit/fastread.py``) on the driver; without one (a ``Database`` bound to a single connection,
    as in the tests) they run on the request's session connection.
    """

    engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    reads: DriverReads | None = None
    # SQLite only: writing requests of this process take it in turn (kit/middleware.py).
    write_lock: asyncio.Lock | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @classmethod
    def from_engine(cls, engine: AsyncEngine, *, read_pool_size: int = 10) -> Database:
        # PostgreSQL reads run in autocommit: under READ COMMITTED every statement takes its own
        # snapshot anyway, so BEGIN/COMMIT around a read-only request only adds two round trips.
        read_bind = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )
        return cls(
            engine=engine,
            read_sessions=make_sessionmaker(read_bind),
            write_sessions=make_sessionmaker(
                engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            ),
            reads=DriverReads(engine.url, engine.dialect, read_pool_size),
            write_lock=asyncio.Lock() if engine.dialect.name == "sqlite" else None,
        )

    async def dispose(self) -> None:
        if self.reads is not None:
            await self.reads.close()
        await self.engine.dispose()


def make_sessionmaker(bind: AsyncEngine | Any, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False, **kwargs)
