"""SQL for tags. Bulk writes are one statement each, whatever the number of users."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.clock import business_now
from thanx_server.kit.ids import new_ids
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.upsert import upsert_insert
from thanx_server.models import Tag


async def list_tags(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    user_ids: Sequence[str],
    key: str | None,
    page: Page,
) -> PageResult[Tag]:
    stmt = select(Tag).where(scope.clause(Tag.merchant_id), Tag.user_id.in_(user_ids))
    if key is not None:
        stmt = stmt.where(Tag.key == key)
    stmt = stmt.order_by(Tag.created_at.desc(), Tag.id.desc())
    return await paginate(session, stmt, page)


_TAGS: Table = Tag.__table__  # type: ignore[assignment]
# Built once per dialect (a hot write, issue 17): the upsert of one (member, key) row, run as
# one executemany over the call's users. Built per call as a multi-row VALUES it was compiled
# anew every time (its cache key held each row), and ``excluded`` rebuilt its column set.
_UPSERTS: dict[str, Any] = {}


def _upsert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get(dialect)
    if statement is None:
        insert = upsert_insert(session, _TAGS)
        statement = _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["merchant_id", "user_id", "key"],
            set_={"values": insert.excluded["values"], "updated_at": insert.excluded.updated_at},
        )
    return statement


async def upsert_tags(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    user_ids: Sequence[str],
    key: str,
    values: list[str],
) -> None:
    """Create the key for every user lacking it and replace the values of those having it."""
    (merchant_id,) = scope.merchant_ids
    now = business_now()
    rows = [
        {
            "id": tag_id,
            "merchant_id": merchant_id,
            "user_id": user_id,
            "key": key,
            "values": values,
            "created_at": now,
            "updated_at": now,
        }
        for tag_id, user_id in zip(new_ids(len(user_ids)), user_ids, strict=True)
    ]
    await session.execute(_upsert(session), rows)


async def delete_tags(
    session: AsyncSession, scope: MerchantScope, *, user_ids: Sequence[str], key: str
) -> None:
    await session.execute(
        delete(Tag).where(scope.clause(Tag.merchant_id), Tag.user_id.in_(user_ids), Tag.key == key)
    )
