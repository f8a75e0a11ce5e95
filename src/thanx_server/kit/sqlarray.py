"""``column IN <list>`` with the whole list bound as ONE parameter, on both engines.

SQLAlchemy's ``in_()`` binds one parameter per value and renders a different statement for every
list length: a partner with 100 merchants sent 100-parameter statements, and the compiled-statement
cache kept one entry per length. Here the list travels as one value:

* PostgreSQL: ``column = ANY($1::VARCHAR[])`` (asyncpg encodes the array natively);
* SQLite: ``column IN (SELECT value FROM json_each(?))`` with the list as JSON text.

The statement text no longer depends on the list, so SQLAlchemy compiles it once (its compiled
cache) and PostgreSQL prepares it once per connection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, Boolean, ColumnElement, Dialect, String, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine


class IdList(TypeDecorator[Sequence[str]]):
    """A list of strings bound as one value: an array on PostgreSQL, JSON text elsewhere."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(String()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return list(value)
        return json.dumps(list(value), separators=(",", ":"))


class InList(ColumnElement[bool]):
    """``column IN param``, where ``param`` is bound as an ``IdList``."""

    __visit_name__ = "thanx_in_list"
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("param", InternalTraversal.dp_clauseelement),
    ]
    type = Boolean()
    # A predicate: without this, engines with no native boolean (SQLite) get ``(... IN ...) = 1``,
    # which the planner cannot use as an index constraint (measured: a full scan of memberships).
    _is_implicitly_boolean = True

    def __init__(self, column: Any, param: ColumnElement[Any]) -> None:
        self.column = coercions.expect(roles.ExpressionElementRole, column)
        self.param = param


@compiles(InList)
def _in_json_each(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    column, param = compiler.process(element.column, **kw), compiler.process(element.param, **kw)
    # Both parts are compiler output (a column and a placeholder), never values.
    return f"{column} IN (SELECT value FROM json_each({param}))"  # noqa: S608


@compiles(InList, "postgresql")
def _any_array(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY({compiler.process(element.param, **kw)})"


def in_list(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN values`` with ``values`` bound now, as one parameter."""
    return InList(column, bindparam(None, value=list(values), type_=IdList()))


def in_list_param(column: Any, name: str) -> ColumnElement[bool]:
    """``column IN :name``, for statements built once and given the list at execution."""
    return InList(column, bindparam(name, type_=IdList()))
