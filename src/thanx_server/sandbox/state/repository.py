"""The SQL of resets and snapshots: one SELECT, DELETE or multi-row INSERT per table."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, exists, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.kit.upsert import upsert_insert
from thanx_server.models.sandbox import BASELINE_ROW_ID, SandboxBaseline, SandboxClock
from thanx_server.sandbox.state.tables import BY_NAME, CREDENTIALS, ORDERED, encode_value

# In a merchant's reset these stay: its row (partners' grants point at it) is updated in place,
# and users are shared by every merchant they are a member of.
KEPT_IN_MERCHANT_RESET = frozenset({"merchants", "users"})


def scoped(table: Table, scope: MerchantScope) -> ColumnElement[bool] | None:
    """The rows of ``table`` that belong to the scope's merchants (None: none of them do)."""
    if scope.everything:
        return true()
    columns = table.c
    if table.name == "merchants":
        return scope.clause(columns.id)
    if "merchant_id" in columns:
        return scope.clause(columns.merchant_id)
    if table.name == "campaign_variants":
        campaigns = BY_NAME["campaigns"]
        return columns.campaign_id.in_(
            select(campaigns.c.id).where(scope.clause(campaigns.c.merchant_id))
        )
    if table.name == "issuance_outcomes":
        jobs = BY_NAME["issuance_jobs"]
        return columns.job_id.in_(select(jobs.c.id).where(scope.clause(jobs.c.merchant_id)))
    if table.name == "users":
        memberships = BY_NAME["memberships"]
        return columns.id.in_(
            select(memberships.c.user_id).where(scope.clause(memberships.c.merchant_id))
        )
    return None


def tables_of(scope: MerchantScope, *, credentials: bool) -> list[Table]:
    """The tables a snapshot of ``scope`` holds (parents first)."""
    return [
        t
        for t in ORDERED
        if (credentials or t.name not in CREDENTIALS)
        and (scope.everything or t.name not in CREDENTIALS)
        and scoped(t, scope) is not None
    ]


async def export_rows(
    session: AsyncSession, scope: MerchantScope, *, credentials: bool
) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in tables_of(scope, credentials=credentials):
        where = scoped(table, scope)
        assert where is not None
        key = [c for c in table.primary_key.columns]
        result = await session.execute(select(table).where(where).order_by(*key))
        names = list(result.keys())
        tables[table.name] = [
            {name: encode_value(value) for name, value in zip(names, row, strict=True)}
            for row in result.all()
        ]
    return tables


async def delete_scope(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    credentials: bool,
    keep_merchants: Collection[str] = (),
) -> None:
    """Delete the scope's rows, children first.

    One merchant: its rows, except those ``KEPT_IN_MERCHANT_RESET``. Everything: every data
    table and, with ``credentials``, every credential. Everything without ``credentials``:
    partners' grants point at merchants, so the merchants about to be put back
    (``keep_merchants``) stay where they are (the caller overwrites them) with their grants;
    the other merchants go, and their grants with them.
    """
    in_place = scope.everything and not credentials
    candidates: list[tuple[Table, ColumnElement[bool]]] = []
    for table in reversed(ORDERED):
        if table.name in CREDENTIALS:
            if not scope.everything or (not credentials and table.name != "partner_merchants"):
                continue
        elif not scope.everything and table.name in KEPT_IN_MERCHANT_RESET:
            continue
        where = scoped(table, scope)
        if where is None:
            continue
        if in_place and table.name in ("merchants", "partner_merchants"):
            column = table.c.id if table.name == "merchants" else table.c.merchant_id
            where = ~MerchantScope(tuple(keep_merchants)).clause(column)
        candidates.append((table, where))
    # One statement says which of them hold such rows; only those get a DELETE (at demo size
    # most tables are empty, and on SQLite every statement is a trip to the driver's thread).
    present = await session.execute(
        select(*(exists().where(where).select_from(t).label(t.name) for t, where in candidates))
    )
    holding = {name for name, has in present.one()._mapping.items() if has}
    for table, where in candidates:
        if table.name in holding:
            await session.execute(
                delete(table).where(where).execution_options(synchronize_session=False)
            )


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(table), rows)


async def upsert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert, or overwrite the row with the same primary key (users shared by merchants)."""
    if not rows:
        return
    statement = upsert_insert(session, table)
    keys = [c.name for c in table.primary_key.columns]
    statement = statement.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    await session.execute(statement, rows)


async def overwrite_merchants(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """A merchant's row is updated in place (partners' grants point at it), or inserted."""
    await upsert_rows(session, BY_NAME["merchants"], rows)


async def reset_clock(session: AsyncSession) -> None:
    await session.execute(delete(SandboxClock))


async def baseline_version(session: AsyncSession) -> int:
    version = await session.scalar(
        select(SandboxBaseline.version).where(SandboxBaseline.id == BASELINE_ROW_ID)
    )
    return int(version or 0)


async def baseline_key(session: AsyncSession) -> tuple[int, str]:
    """The baseline's version and when it was saved ((0, ""): none), a cache key that differs
    between databases too."""
    row = (
        await session.execute(
            select(SandboxBaseline.version, SandboxBaseline.saved_at).where(
                SandboxBaseline.id == BASELINE_ROW_ID
            )
        )
    ).first()
    return (0, "") if row is None else (int(row.version), row.saved_at.isoformat())


async def baseline_document(session: AsyncSession) -> dict[str, Any] | None:
    document: dict[str, Any] | None = await session.scalar(
        select(SandboxBaseline.document).where(SandboxBaseline.id == BASELINE_ROW_ID)
    )
    return document


async def save_baseline(session: AsyncSession, document: dict[str, Any]) -> int:
    version = await baseline_version(session) + 1
    if version == 1:
        await session.execute(
            insert(SandboxBaseline).values(
                id=BASELINE_ROW_ID, version=version, document=document, saved_at=utcnow()
            )
        )
    else:
        await session.execute(
            update(SandboxBaseline)
            .where(SandboxBaseline.id == BASELINE_ROW_ID)
            .values(version=version, document=document, saved_at=utcnow())
        )
    return version
