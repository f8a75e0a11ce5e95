"""SQL for operator credentials."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.models import OperatorCredential

# Built once: every control call whose operator is not in the process's cache reads it.
_BY_CLIENT_ID = select(OperatorCredential).where(
    OperatorCredential.client_id == bindparam("client_id")
)


async def find(session: AsyncSession, client_id: str) -> OperatorCredential | None:
    return await session.scalar(_BY_CLIENT_ID, {"client_id": client_id})


def add(session: AsyncSession, credential: OperatorCredential) -> None:
    session.add(credential)


async def list_all(session: AsyncSession) -> Sequence[OperatorCredential]:
    stmt = select(OperatorCredential).order_by(OperatorCredential.created_at, OperatorCredential.id)
    return (await session.scalars(stmt)).all()


async def find_by_name(session: AsyncSession, name: str) -> OperatorCredential | None:
    stmt = (
        select(OperatorCredential)
        .where(OperatorCredential.name == name, OperatorCredential.revoked_at.is_(None))
        .order_by(OperatorCredential.created_at)
        .limit(1)
    )
    return await session.scalar(stmt)
