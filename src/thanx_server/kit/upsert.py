"""``INSERT ... ON CONFLICT``: the one place that picks the dialect's insert construct.

SQLite and PostgreSQL spell the upsert the same way in SQLAlchemy (``on_conflict_do_update`` /
``on_conflict_do_nothing`` with ``.excluded``), but through two different ``insert`` functions.
Each is imported by the first upsert on its database: importing SQLAlchemy's PostgreSQL dialect
here cost every SQLite ``serve`` ~20-40 ms of its start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
    from sqlalchemy.dialects.sqlite import Insert as SQLiteInsert

    UpsertInsert = SQLiteInsert | PostgresInsert


def upsert_insert(session: AsyncSession, table: Any) -> UpsertInsert:
    """An ``insert(table)`` that supports ``on_conflict_do_update`` on the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgres_insert

        return postgres_insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")
