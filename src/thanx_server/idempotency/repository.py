"""SQL for idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.models import IdempotencyKey


async def find(session: AsyncSession, *, credential_id: str, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.credential_id == credential_id, IdempotencyKey.key == key
        )
    )


async def remove(session: AsyncSession, key_id: str) -> None:
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == key_id))


def add(session: AsyncSession, key: IdempotencyKey) -> None:
    session.add(key)


async def remove_expired(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
