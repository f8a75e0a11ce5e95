"""The SQL of fault rules. Rules are few; the per-request lookup is one indexed SELECT."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.models.sandbox import SandboxFaultRule


def add(session: AsyncSession, rule: SandboxFaultRule) -> None:
    session.add(rule)


async def list_rules(
    session: AsyncSession, owner_client_id: str | None
) -> Sequence[SandboxFaultRule]:
    """An operator's view (``None``): every rule; a partner's: its own."""
    statement = select(SandboxFaultRule).order_by(SandboxFaultRule.created_at, SandboxFaultRule.id)
    if owner_client_id is not None:
        statement = statement.where(SandboxFaultRule.owner_client_id == owner_client_id)
    return (await session.scalars(statement)).all()


async def remove(session: AsyncSession, owner_client_id: str | None, rule_id: str | None) -> int:
    statement = delete(SandboxFaultRule)
    if owner_client_id is not None:
        statement = statement.where(SandboxFaultRule.owner_client_id == owner_client_id)
    if rule_id is not None:
        statement = statement.where(SandboxFaultRule.id == rule_id)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def candidates(
    session: AsyncSession, *, operation_id: str, client_id: str | None, now: datetime
) -> Sequence[SandboxFaultRule]:
    """The live rules of an operation that apply to this caller, oldest first."""
    owners: ColumnElement[bool] = SandboxFaultRule.owner_client_id.is_(None)
    if client_id:
        owners = or_(owners, SandboxFaultRule.owner_client_id == client_id)
    statement = (
        select(SandboxFaultRule)
        .where(
            SandboxFaultRule.operation_id == operation_id,
            owners,
            or_(SandboxFaultRule.expires_at.is_(None), SandboxFaultRule.expires_at > now),
        )
        .order_by(SandboxFaultRule.created_at, SandboxFaultRule.id)
    )
    return (await session.scalars(statement)).all()


async def take_hit(session: AsyncSession, rule_id: str, times: int | None) -> bool:
    """Count a hit, only while the rule has hits left (concurrent calls: one UPDATE each)."""
    statement = update(SandboxFaultRule).where(SandboxFaultRule.id == rule_id)
    if times is not None:
        statement = statement.where(SandboxFaultRule.hits < times)
    result = await session.execute(statement.values(hits=SandboxFaultRule.hits + 1))
    return bool(getattr(result, "rowcount", 0))


async def next_seen(session: AsyncSession, rule_id: str) -> int:
    """Count a call the rule was asked about; returns its index (for the seeded draw)."""
    seen = await session.scalar(
        update(SandboxFaultRule)
        .where(SandboxFaultRule.id == rule_id)
        .values(seen=SandboxFaultRule.seen + 1)
        .returning(SandboxFaultRule.seen)
    )
    return int(seen or 0)


async def any_rules(session: AsyncSession) -> bool:
    return await session.scalar(select(SandboxFaultRule.id).limit(1)) is not None


async def clear(session: AsyncSession) -> None:
    await session.execute(delete(SandboxFaultRule))
