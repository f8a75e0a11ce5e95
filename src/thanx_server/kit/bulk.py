"""Bulk inserts behind one small interface: the dialect fast path lives here and only here.

* PostgreSQL: ``COPY ... FROM STDIN`` (binary) through the session's own asyncpg connection, so
  the rows join the caller's transaction. Several times faster than INSERT for thousands of rows.
* SQLite (and anything else): one executemany of a Core INSERT.

Rows are plain dicts keyed by column name; every row has the same keys.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        await _copy(session, table, rows)
    else:
        await session.execute(insert(table), rows)


async def _copy(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    # A statement first, so the driver has opened the transaction the COPY must belong to.
    await session.execute(text("SELECT 1"))
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    columns = list(rows[0])
    json_columns = {name for name in columns if isinstance(table.c[name].type, JSON)}
    records = [
        tuple(
            json.dumps(row[name]) if name in json_columns and row[name] is not None else row[name]
            for name in columns
        )
        for row in rows
    ]
    await driver.copy_records_to_table(table.name, records=records, columns=columns)
