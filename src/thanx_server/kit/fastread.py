"""The hot read path: Core SELECTs compiled once per dialect, run straight on the driver.

Profiling the read endpoints showed most of a request's CPU in SQLAlchemy's per-execution work
(session and connection bookkeeping, compiled-cache lookups, parameter and result processing by
the ORM), not in the database. A ``ReadQuery`` keeps the SQL where it was (a Core ``select()`` in
the feature's repository, with SQLAlchemy's own types) but does that work once:

* the statement is compiled once per dialect, to driver SQL with positional parameters;
* bind and result processors are SQLAlchemy's own (``UTCDateTime``, ``JSON``, ``IdList``...), taken
  from the compiled statement, so values come back exactly as the ORM returns them;
* rows come back as the repository's ``NamedTuple`` (checked against the statement's columns).

Where it runs (``Reads``):

* ``DriverReads`` (the server): PostgreSQL through a fixed-size ``asyncpg`` pool of its own
  (statements are prepared once per connection by asyncpg); SQLite through one plain ``sqlite3``
  connection per process, read-only (``query_only``), called on the event loop: a lookup costs
  tens of microseconds, less than the thread hop aiosqlite makes per statement. WAL readers do
  not wait for the writer.
* ``SessionReads``: the request's own session connection. Used when the ``Database`` is bound to
  one connection (the test suite's rolled-back transaction), so the same compiled SQL and
  processors run against data the driver pool could not see;

* ``SessionReads`` is also what a writing request gets (``kit.deps.DbReads``): driver reads are
  outside the request's transaction and would not see its own writes.

Under PostgreSQL's READ COMMITTED every statement of a read request already took its own
snapshot; on SQLite each driver read is its own read transaction.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from sqlalchemy import Dialect, Numeric, Select, select
from sqlalchemy.engine import URL
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    import asyncpg
    from sqlalchemy.ext.asyncio import AsyncSession

RowT = TypeVar("RowT", bound=tuple[Any, ...])
Processor = Callable[[Any], Any]

# A read on the event loop must not wait long for a lock: WAL readers only wait in rare cases
# (recovery of the WAL index), and then the request fails (503) instead of stalling the process.
SQLITE_READ_BUSY_TIMEOUT_MS = 1_000


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # bound parameters, in positional order
    defaults: dict[str, Any]  # values fixed in the statement itself (literals)
    binds: tuple[Processor | None, ...]
    results: tuple[tuple[int, Processor], ...]  # only the columns that need processing


class ReadQuery(Generic[RowT]):
    """A SELECT whose rows come back as ``row`` (a NamedTuple naming the selected columns)."""

    def __init__(self, row: type[RowT], stmt: Select[*tuple[Any, ...]]) -> None:
        fields = tuple(getattr(row, "_fields", ()))
        columns = tuple(stmt.selected_columns.keys())
        if fields != columns:
            raise TypeError(f"{row.__name__} fields {fields} do not match the columns {columns}")
        self.row = row
        self.stmt = stmt
        self._plans: dict[str, _Plan] = {}

    def plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._compile(dialect)
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled = self.stmt.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        binds = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        results: list[tuple[int, Processor]] = []
        for index, column in enumerate(self.stmt.selected_columns):
            processor = _result_processor(column.type, dialect)
            if processor is not None:
                results.append((index, processor))
        defaults = {
            name: bind.value
            for name in names
            if not (bind := compiled.binds[name]).required and bind.value is not None
        }
        return _Plan(compiled.string, names, defaults, binds, tuple(results))

    def arguments(self, plan: _Plan, params: dict[str, Any]) -> list[Any]:
        args = []
        for name, process in zip(plan.names, plan.binds, strict=True):
            if name in params:
                value = params[name]
            elif name in plan.defaults:
                value = plan.defaults[name]
            else:
                raise TypeError(f"{self.row.__name__} query needs the parameter {name!r}")
            args.append(value if process is None else process(value))
        return args

    def rows(self, plan: _Plan, raw: Sequence[Sequence[Any]]) -> list[RowT]:
        if not plan.results:
            return [self.row(*values) for values in raw]
        out = []
        for values in raw:
            converted = list(values)
            for index, process in plan.results:
                converted[index] = process(converted[index])
            out.append(self.row(*converted))
        return out


def select_row(row: type[tuple[Any, ...]], table: Any) -> Select[Any]:
    """``SELECT`` of ``table``'s columns named by ``row``'s fields, in that order."""
    columns = table.__table__.c if hasattr(table, "__table__") else table.c
    return select(*(columns[name] for name in getattr(row, "_fields", ())))


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    # asyncpg returns NUMERIC as Decimal itself; SQLAlchemy's asyncpg processor for it wants the
    # cursor's type code, which a statement compiled ahead of time does not have.
    if dialect.name == "postgresql" and isinstance(type_, Numeric) and type_.asdecimal:
        return None
    processor: Processor | None = type_.dialect_impl(dialect).result_processor(dialect, None)
    return processor


class Reads(Protocol):
    async def all(self, query: ReadQuery[RowT], **params: Any) -> list[RowT]: ...

    async def one(self, query: ReadQuery[RowT], **params: Any) -> RowT | None: ...


class _ReadsBase:
    dialect: Dialect

    async def _fetch(self, sql: str, args: list[Any]) -> Sequence[Sequence[Any]]:
        raise NotImplementedError

    async def all(self, query: ReadQuery[RowT], **params: Any) -> list[RowT]:
        plan = query.plan(self.dialect)
        return query.rows(plan, await self._fetch(plan.sql, query.arguments(plan, params)))

    async def one(self, query: ReadQuery[RowT], **params: Any) -> RowT | None:
        rows = await self.all(query, **params)
        return rows[0] if rows else None


class DriverReads(_ReadsBase):
    """The server's backend: its own asyncpg pool, or one sqlite3 connection (see module doc)."""

    def __init__(self, url: URL, dialect: Dialect, pool_size: int) -> None:
        self.url = url
        self.dialect = dialect
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self, sql: str, args: list[Any]) -> Sequence[Sequence[Any]]:
        if self.dialect.name == "sqlite":
            return (self._sqlite or self._open_sqlite()).execute(sql, args).fetchall()
        pool = self._pool or await self._open_pool()
        rows: Sequence[Sequence[Any]] = await pool.fetch(sql, *args)
        return rows

    def _open_sqlite(self) -> sqlite3.Connection:
        path = self.url.database
        if not path or path == ":memory:":
            raise RuntimeError("fast reads need an SQLite file, not an in-memory database")
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={SQLITE_READ_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only=ON")
        self._sqlite = conn
        return conn

    async def _open_pool(self) -> asyncpg.Pool:
        import asyncpg

        async with self._lock:
            if self._pool is None:
                dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
                # Fixed size, idle connections kept: reconnecting costs more than it saves.
                self._pool = await asyncpg.create_pool(
                    dsn,
                    min_size=1,
                    max_size=self.pool_size,
                    max_inactive_connection_lifetime=0,
                    init=_init_pg_connection,
                    reset=_keep_pg_connection,
                )
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
        if self._sqlite is not None:
            conn, self._sqlite = self._sqlite, None
            conn.close()


async def _init_pg_connection(conn: asyncpg.Connection) -> None:
    # JSON arrives decoded, as on SQLAlchemy's own asyncpg connections, so the same result
    # processors apply to both backends.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog", format="text"
        )


async def _keep_pg_connection(conn: asyncpg.Connection) -> None:
    # asyncpg resets a connection on release (advisory locks, cursors, LISTEN, settings): one
    # more round trip per query. Connections of this pool only ever run single SELECTs in
    # autocommit, so there is no state to reset (measured: ~13% of a read's CPU time).
    return None


class SessionReads(_ReadsBase):
    """Fast reads on a session's connection, inside its transaction (after a flush)."""

    def __init__(self, session: Callable[[], AsyncSession], dialect: Dialect) -> None:
        self.session = session  # called on first use: a request's session is created lazily
        self.dialect = dialect

    async def _fetch(self, sql: str, args: list[Any]) -> Sequence[Sequence[Any]]:
        session = self.session()
        await session.flush()  # the ORM's pending changes first: the read must see them
        connection = await session.connection()
        driver: Any = (await connection.get_raw_connection()).driver_connection
        if self.dialect.name == "postgresql":
            rows: Sequence[Sequence[Any]] = await driver.fetch(sql, *args)
            return rows
        cursor = await driver.execute(sql, args)
        try:
            return list(await cursor.fetchall())
        finally:
            await cursor.close()


def reads_on(session: AsyncSession) -> Reads:
    """Fast reads inside ``session``'s transaction (services called with a session only)."""
    return SessionReads(lambda: session, session.get_bind().dialect)
