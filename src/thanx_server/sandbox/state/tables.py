"""Which tables a snapshot holds, in which order, and how their values travel as JSON.

Every table of the schema is in exactly one group (``tests/test_sandbox_state.py`` checks it):
``DATA`` (what a reset puts back), ``CREDENTIALS`` (kept by a reset unless asked) and
``CONTROL`` (the sandbox's own controls, never in a snapshot). The order is the schema's
dependency order (parents first); deletes run it backwards.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Date, DateTime, Numeric, Table
from sqlalchemy.types import TypeDecorator

from thanx_server.models import Base

FORMAT = "thanx-server-snapshot"
FORMAT_VERSION = 1

CREDENTIALS = frozenset(
    {"operator_credentials", "partners", "partner_credentials", "partner_merchants"}
)
CONTROL = frozenset(
    {
        "sandbox_clock",
        "sandbox_baselines",
        "sandbox_fault_rules",
        "sandbox_progressions",
        "sandbox_job_controls",
        "sandbox_journal",
        # Who is signed in to the console (issue 15): a reset signs nobody out.
        "console_sessions",
    }
)

ORDERED: tuple[Table, ...] = tuple(t for t in Base.metadata.sorted_tables if t.name not in CONTROL)
BY_NAME: dict[str, Table] = {t.name: t for t in ORDERED}
DATA = frozenset(t.name for t in ORDERED) - CREDENTIALS


def _kind(column: Column[Any]) -> str:
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(kind, DateTime):
        return "datetime"
    if isinstance(kind, Date):
        return "date"
    if isinstance(kind, Numeric):
        return "decimal"
    return "plain"


KINDS: dict[str, dict[str, str]] = {t.name: {c.name: _kind(c) for c in t.columns} for t in ORDERED}


def encode_value(value: Any) -> Any:
    """A column value as JSON, exactly: instants with microseconds and offset, decimals as
    strings (no float rounding)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def decode_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row of a snapshot back into column values (unknown columns: ``ValueError``)."""
    kinds = KINDS[table]
    out: dict[str, Any] = {}
    for name, value in row.items():
        kind = kinds.get(name)
        if kind is None:
            raise ValueError(f"tables.{table}: unknown column '{name}'")
        if value is None or kind == "plain":
            out[name] = value
        elif kind == "datetime":
            out[name] = datetime.fromisoformat(value)
        elif kind == "date":
            out[name] = date.fromisoformat(value)
        else:
            out[name] = Decimal(value)
    return out
