"""SQL for subscribers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.clock import business_now
from thanx_server.kit.ids import new_id
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.upsert import upsert_insert
from thanx_server.models import Subscriber


async def upsert(
    session: AsyncSession, *, merchant_id: str, email: str, fields: dict[str, Any]
) -> None:
    """Insert the subscriber, or write ``fields`` over the known one: one statement, so two
    concurrent sign-ups of one email end as one row."""
    now = business_now()
    insert = upsert_insert(session, Subscriber).values(
        id=new_id(), merchant_id=merchant_id, email=email, created_at=now, updated_at=now, **fields
    )
    conflict = ["merchant_id", "email"]
    if fields:
        stmt = insert.on_conflict_do_update(
            index_elements=conflict,
            set_={**{name: getattr(insert.excluded, name) for name in fields}, "updated_at": now},
        )
    else:
        stmt = insert.on_conflict_do_nothing(index_elements=conflict)
    await session.execute(stmt)


async def get(session: AsyncSession, scope: MerchantScope, *, email: str) -> Subscriber | None:
    return await session.scalar(
        select(Subscriber)
        .where(scope.clause(Subscriber.merchant_id), Subscriber.email == email)
        .execution_options(populate_existing=True)
    )
