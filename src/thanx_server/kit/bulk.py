"""Set-based bulk SQL behind one small interface: the dialect fast paths live here and only here.

A chunk of thousands of rows is written with ONE statement whose row data travels as one
compact bound value, and whose columns shared by every row (a reward's campaign, template,
redeem JSON, dates...) are bound once, not once per row:

* PostgreSQL: ``INSERT INTO t (...) SELECT <shared>, u.* FROM unnest($1::text[], $2::int[]) u``
  (asyncpg encodes the arrays natively);
* SQLite: ``INSERT INTO t (...) SELECT <shared>, json_extract(value, '$[0]'), ... FROM
  json_each(?)`` with the rows as one JSON array.

Measured on a 9,000-reward chunk set this is several times faster than an executemany (whose
cost is per-row bind processing) and than ``COPY`` (which ships and parses the shared JSON
columns once per row). The matching lookup, ``column IN <one bound list>``, is
``kit.sqlarray.in_list``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def insert_rows(
    session: AsyncSession,
    table: Table,
    *,
    shared: Mapping[str, Any],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order), each also carrying the ``shared`` values.

    Varying columns must be strings or integers (ids, indexes, short texts, NULLs).
    """
    if not rows:
        return
    shared_cols = [
        literal(value, type_=table.c[name].type).label(name) for name, value in shared.items()
    ]
    varying = _rows_source(_dialect(session), [table.c[name].type for name in columns], rows)
    source = select(
        *shared_cols, *(col.label(name) for col, name in zip(varying, columns, strict=True))
    )
    await session.execute(insert(table).from_select([*shared, *columns], source))


def _rows_source(
    dialect: str, types: Sequence[TypeEngine[Any]], rows: Sequence[Sequence[Any]]
) -> list[ColumnElement[Any]]:
    names = [f"c{i}" for i in range(len(types))]
    if dialect == "postgresql":
        arrays = [
            bindparam(f"bulk_{name}", value=[row[i] for row in rows], type_=ARRAY(_array_item(t)))
            for i, (name, t) in enumerate(zip(names, types, strict=True))
        ]
        derived = func.unnest(*arrays).table_valued(*names).render_derived()
        return [derived.c[name] for name in names]
    if len(types) == 1:
        # One varying column (a batch of codes): a flat JSON array, read as json_each's value,
        # saves a json_extract per row.
        flat = json.dumps([row[0] for row in rows], separators=(",", ":"))
        one = func.json_each(bindparam("bulk_rows", value=flat, type_=String)).table_valued("value")
        return [one.c.value]
    payload = json.dumps([list(row) for row in rows], separators=(",", ":"))
    each = func.json_each(bindparam("bulk_rows", value=payload, type_=String)).table_valued("value")
    return [func.json_extract(each.c.value, f"$[{i}]") for i in range(len(types))]


def _array_item(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    return Integer() if isinstance(type_, Integer) else String()
