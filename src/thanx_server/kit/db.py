"""Engines, sessions and the portable column types: the one place that knows SQLite from PostgreSQL.

SQLite setup lives here and only here:

* ``foreign_keys=ON`` (SQLite ignores REFERENCES otherwise);
* ``journal_mode=WAL`` so readers never block the writer, ``synchronous=NORMAL`` (safe with WAL);
* ``busy_timeout`` so a second writer waits instead of failing at once;
* the driver's own transaction handling is switched off and we emit ``BEGIN`` ourselves, because
  pysqlite's implicit transactions break SAVEPOINT and cannot express ``BEGIN IMMEDIATE``.
  Requests that write (any method but GET/HEAD/OPTIONS) and worker claims begin with
  ``BEGIN IMMEDIATE``: they take the write lock up front, so two writers queue on the busy timeout
  instead of deadlocking when both try to upgrade a read lock. Read-only requests begin nothing
  (``SQLITE_NO_BEGIN``): each statement is its own read transaction, as each is its own snapshot
  under PostgreSQL's READ COMMITTED;
* every call into aiosqlite is a trip to its thread, so nothing is asked of it that is not
  needed: a ``ROLLBACK`` is only sent when the connection is inside a transaction (the dialect
  asks the connection, which costs no trip), and read sessions do not toggle the driver's
  isolation level per checkout as SQLAlchemy's ``AUTOCOMMIT`` option would;
* a statement is ONE trip (``_OneTripCursor``): SQLAlchemy's aiosqlite cursor makes four (open a
  cursor, execute, fetch, close), each a wake-up of the driver's thread and a wait for the event
  loop to be woken back, which on a loaded 2-core machine is most of a write's time
  (docs/PERFORMANCE.md, issue 17). The same four calls run back to back on the driver's thread;
* a writing transaction's ``BEGIN IMMEDIATE`` takes the process's writer queue at once but is
  sent with the transaction's first statement, on that statement's trip (a transaction that
  runs nothing sends nothing): every trip inside a write is one the queue's holder waits for.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiosqlite
from sqlalchemy import DateTime, Dialect, event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import await_

from thanx_server.kit.pool import FairQueuePool

if TYPE_CHECKING:
    from thanx_server.settings import Settings

SQLITE_BEGIN_OPTION = "thanx_sqlite_begin"
SQLITE_NO_BEGIN = "NONE"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# What a writing transaction begins with (``_on_begin``); it waits for the writer queue first.
BEGIN_WRITE = "BEGIN IMMEDIATE"


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


def _run_statement(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: bool
) -> tuple[Any, list[Any], int, int | None]:
    """On the driver's thread: one statement from cursor to close (``_OneTripCursor``), after
    the transaction's ``BEGIN IMMEDIATE`` if it is the transaction's first (``begin``)."""
    if begin:
        connection.execute(BEGIN_WRITE)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor, each statement one trip to the driver's thread.

    The rows are fetched there, as SQLAlchemy's own adapter does for every non-streaming cursor
    (it buffers them in ``_rows`` and serves ``fetch*`` from the buffer); only the number of
    trips differs. Streaming (server-side) cursors keep SQLAlchemy's class.
    """

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No driver cursor is opened here (that was the first trip).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # no driver cursor is kept open
        self._soft_closed_memoized: Any = {}
        self._rows: collections.deque[Any] = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _trip(self, operation: Any, parameters: Any, many: bool) -> None:
        connection: Any = self._adapt_connection  # a _OneTripConnection
        if operation == BEGIN_WRITE:
            # The writer's turn is taken now; the BEGIN itself rides on the trip of the
            # transaction's first statement (or of nothing, if none comes before the end).
            await connection._begin_write()
            connection._begin_pending = True
            return
        async with connection._execute_mutex:
            driver: Any = self._connection
            begin = connection._begin_pending
            try:
                self._description, rows, self._rowcount, self._lastrowid = await driver._execute(
                    _run_statement, driver._conn, operation, parameters, many, begin
                )
            finally:
                if begin:  # sent (a failed BEGIN is undone by the ROLLBACK that follows)
                    connection._begin_pending = False
            self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._trip(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._trip(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        return None  # the driver's cursor was closed on its thread

    def close(self) -> None:
        self._rows.clear()


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """A connection of ``_OneTripDBAPI``: one-trip cursors, and the process's writer queue.

    ``BEGIN IMMEDIATE`` (every writing transaction: requests, worker claims) first waits its
    turn on the engine's ``write_lock``; the turn ends with the transaction (COMMIT, ROLLBACK,
    or the connection closed). Writers of one process so queue in memory, where a waiter costs
    nothing, instead of in SQLite's busy handler, which sleeps and retries (p99 over 1 s under
    load), and the lock is held only while the database's own lock is: validation,
    authentication and rendering of other requests run meanwhile (issue 17).
    """

    __slots__ = ("_begin_pending", "_holds_write_lock", "_write_lock")
    _cursor_cls = _OneTripCursor

    def __init__(self, dbapi: Any, connection: Any, write_lock: asyncio.Lock) -> None:
        super().__init__(dbapi, connection)
        self._write_lock = write_lock
        self._holds_write_lock = False
        # ``BEGIN IMMEDIATE`` was asked for (the turn is held) and not sent yet: it goes with
        # the next statement's trip (``_run_statement``), one trip fewer per write (issue 17).
        self._begin_pending = False

    @property
    def in_write(self) -> bool:
        """Inside a writing transaction: the turn on the queue is held (its BEGIN may not have
        reached the driver yet)."""
        return self._holds_write_lock

    async def _begin_write(self) -> None:
        await self._write_lock.acquire()
        self._holds_write_lock = True

    def _end_write(self) -> None:
        self._begin_pending = False
        if self._holds_write_lock:
            self._holds_write_lock = False
            self._write_lock.release()

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self._begin_pending:
            # SQLAlchemy's streaming cursor runs its statement itself: the BEGIN goes first.
            self._begin_pending = False
            await_(self._connection.execute(BEGIN_WRITE))
        return super().cursor(server_side)

    def commit(self) -> None:
        try:
            if not self._begin_pending:  # else nothing was sent: nothing to commit
                super().commit()
        finally:
            self._end_write()

    def rollback(self) -> None:
        try:
            if not self._begin_pending:
                super().rollback()
        finally:
            self._end_write()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_write()

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self._end_write()


class _OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DB-API adapter of one engine, handing out ``_OneTripConnection``s that
    share its ``write_lock``."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.write_lock = asyncio.Lock()

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's adapter: never block interpreter exit
        return _OneTripConnection(self, await_(connection), self.write_lock)


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
        if mode != SQLITE_NO_BEGIN:  # read-only work: every statement its own read transaction
            conn.exec_driver_sql(f"BEGIN {mode}")

    # The driver runs with ``isolation_level = None`` (above), so the dialect would call every
    # connection "autocommit"; the truth is whether a transaction is open, which the connection
    # knows without a trip to aiosqlite's thread. With that, the rollback SQLAlchemy sends when a
    # session closes and when a connection returns to the pool is skipped when there is nothing
    # to roll back (a read), and still sent when there is.
    dialect: Any = engine.dialect
    dialect.skip_autocommit_rollback = True
    dialect.detect_autocommit_setting = _outside_transaction


def _outside_transaction(dbapi_connection: Any) -> bool:
    # A writer whose BEGIN has not reached the driver yet is inside too: its ROLLBACK ends
    # its turn on the writer queue.
    return not (dbapi_connection.driver_connection.in_transaction or dbapi_connection.in_write)


@dataclass(frozen=True, slots=True)
class DbTimeouts:
    """How long a PostgreSQL connection may wait on the database, in seconds (None: no bound).

    Without them a partitioned database (packets dropped, not refused) holds a request for as
    long as TCP retransmits: the connection attempt, the wait for a pooled connection, and
    every statement on an established connection would wait for minutes. With them the request
    fails within the bound (503 ``SERVICE_UNAVAILABLE``, kit/errors.is_db_unreachable) and the
    pool recovers on its own when the network does.

    * ``connect``: opening a connection (asyncpg ``timeout``);
    * ``checkout``: waiting for a free pooled connection (SQLAlchemy ``pool_timeout``);
    * ``statement``: one round trip, enforced twice: by the client (asyncpg ``command_timeout``,
      the only bound that holds when the server never hears of the statement) and, a second
      later, by the server (``statement_timeout``, which frees the locks of a query the client
      gave up on). On a partition the first request on each pooled connection takes this plus
      up to 2 s (SQLAlchemy's graceful close of the dead connection); later ones ``connect``;
    * ``idle_in_transaction``: the server ends a session that sits in an open transaction this
      long without sending anything (``idle_in_transaction_session_timeout``): a frozen worker
      (SIGSTOP) mid-chunk no longer holds its job's row lock until its connection dies.
    """

    connect: float | None = None
    checkout: float | None = None
    statement: float | None = None
    idle_in_transaction: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DbTimeouts:
        """The ``THANX_DB_*`` bounds (0 turns one off)."""
        return cls(
            connect=settings.db_connect_timeout or None,
            checkout=settings.db_checkout_timeout or None,
            statement=settings.db_statement_timeout or None,
            idle_in_transaction=settings.db_idle_in_transaction_timeout or None,
        )


def _postgres_connect_args(timeouts: DbTimeouts) -> dict[str, Any]:
    args: dict[str, Any] = {}
    server: dict[str, str] = {}
    if timeouts.connect is not None:
        args["timeout"] = timeouts.connect
    if timeouts.statement is not None:
        args["command_timeout"] = timeouts.statement
        # A little later than the client's bound, so the client's fires first (a TimeoutError,
        # 503); the server's ends what a client cut off by a partition left running.
        server["statement_timeout"] = str(round(timeouts.statement * 1000) + 1000)
    if timeouts.idle_in_transaction is not None:
        server["idle_in_transaction_session_timeout"] = str(
            round(timeouts.idle_in_transaction * 1000)
        )
    if server:
        args["server_settings"] = server
    return args


def create_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, timeouts: DbTimeouts | None = None
) -> AsyncEngine:
    """Create the engine. Called from the app lifespan or a CLI command, never at import.

    ``hide_parameters``: a database error's message (which reaches the log) never carries bound
    values, which may be emails or phone numbers. ``timeouts`` (PostgreSQL): see ``DbTimeouts``;
    the API and the workers pass the ``THANX_DB_*`` settings, migrations and the CLI none.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"timeout": 30},
            module=_OneTripDBAPI(),
            # Waiters for a connection served in order (kit/pool.py); an in-memory database
            # keeps SQLAlchemy's single shared connection.
            **({} if ":memory:" in url else {"poolclass": FairQueuePool}),
        )
        _configure_sqlite(engine)
        return engine
    # A fixed-size pool: overflow connections reconnect per request and cost throughput.
    # No pre-ping: it costs three round trips per checkout (BEGIN, ping, ROLLBACK). A connection
    # that died is detected by its first failing statement, which invalidates the whole pool, so
    # after an outage one request per process fails (503) and the next ones reconnect.
    timeouts = timeouts or DbTimeouts()
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=0,
        poolclass=FairQueuePool,  # waiters for a connection served in order (kit/pool.py)
        pool_timeout=timeouts.checkout if timeouts.checkout is not None else 30,
        hide_parameters=True,
        connect_args=_postgres_connect_args(timeouts),
    )


@dataclass(frozen=True, slots=True)
class Database:
    """The engine and the two session factories every request, job and command uses.

    ``read_sessions`` serve GET/HEAD/OPTIONS requests (no ``BEGIN``/``ROLLBACK`` around a
    read-only request on either engine); ``write_sessions`` everything else (a
    transaction; ``BEGIN IMMEDIATE`` on SQLite, so the write lock is taken up front).
    ``write_lock`` (SQLite only): the engine's writer queue (``_OneTripConnection``), which
    every ``BEGIN IMMEDIATE`` of this process waits on, in memory instead of in SQLite's busy
    handler. Sessions bound to a test's connection (``bind``) never begin one: their writes
    are savepoints.
    """

    engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]
    write_lock: asyncio.Lock | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @classmethod
    def from_engine(cls, engine: AsyncEngine, *, bind: AsyncConnection | None = None) -> Database:
        """The one factory, for the server, the workers, the CLI and the tests.

        ``bind``: run every session inside this connection's open transaction, each session's
        work in a savepoint (the test suite rolls the outer transaction back after each test).
        Everything else (the factories) is the same as in production; the differences are
        that reads join the outer transaction instead of autocommitting, and that writes are
        savepoints, which do not wait on the SQLite writer queue.
        """
        sqlite = engine.dialect.name == "sqlite"
        if bind is not None:
            read_sessions = make_sessionmaker(bind, join_transaction_mode="create_savepoint")
            write_sessions = read_sessions
        else:
            read_sessions = make_sessionmaker(
                engine.execution_options(**{SQLITE_BEGIN_OPTION: SQLITE_NO_BEGIN})
                if sqlite
                else engine.execution_options(isolation_level="AUTOCOMMIT")
            )
            write_sessions = make_sessionmaker(
                engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            )
        return cls(
            engine=engine,
            read_sessions=read_sessions,
            write_sessions=write_sessions,
            write_lock=_writer_queue(engine),
        )

    async def dispose(self) -> None:
        await self.engine.dispose()


def _writer_queue(engine: AsyncEngine) -> asyncio.Lock | None:
    dbapi = engine.dialect.dbapi
    return dbapi.write_lock if isinstance(dbapi, _OneTripDBAPI) else None


def make_sessionmaker(bind: AsyncEngine | Any, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=False, **kwargs)


def on_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` in this process once the session's current transaction commits (never if
    it rolls back). It runs in the event loop's thread, inside the commit: keep it short."""
    event.listen(session.sync_session, "after_commit", lambda _s: callback(), once=True)
