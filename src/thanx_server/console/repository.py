"""SQL of the console: its sessions, the per-merchant counts of the overview and the
credentials whose rate-limit budgets it shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import IssuanceJob, Membership, Merchant, PartnerCredential, Reward
from thanx_server.models.console import ConsoleSession


async def find_session(session: AsyncSession, digest: str, now: datetime) -> ConsoleSession | None:
    return await session.scalar(
        select(ConsoleSession).where(ConsoleSession.id == digest, ConsoleSession.expires_at > now)
    )


def add_session(session: AsyncSession, row: ConsoleSession) -> None:
    session.add(row)


async def delete_session(session: AsyncSession, digest: str) -> None:
    await session.execute(delete(ConsoleSession).where(ConsoleSession.id == digest))


async def delete_expired(session: AsyncSession, now: datetime) -> None:
    """One set-based DELETE (ix_console_sessions_expires_at), run at each sign-in."""
    await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))


async def merchant_counts(session: AsyncSession, scope: MerchantScope) -> Sequence[Row[Any]]:
    """Each merchant of the scope with its members, rewards and issuance jobs: one statement,
    a correlated count per column over indexed merchant columns (never a query per merchant)."""

    members = select(func.count()).where(Membership.merchant_id == Merchant.id)
    rewards = select(func.count()).where(Reward.merchant_id == Merchant.id)
    jobs = select(func.count()).where(IssuanceJob.merchant_id == Merchant.id)
    stmt = (
        select(
            Merchant.id,
            Merchant.name,
            members.scalar_subquery().label("members"),
            rewards.scalar_subquery().label("rewards"),
            jobs.scalar_subquery().label("jobs"),
        )
        .where(scope.clause(Merchant.id))
        .order_by(Merchant.name, Merchant.id)
    )
    return (await session.execute(stmt)).all()


async def active_client_ids(session: AsyncSession, limit: int) -> list[str]:
    """Client ids of unrevoked partner credentials, the most recently used first (an operator's
    rate-limit table): the ones spending a budget are the ones used lately."""
    stmt = (
        select(PartnerCredential.client_id)
        .where(PartnerCredential.revoked_at.is_(None))
        .order_by(
            PartnerCredential.last_used_at.desc().nulls_last(),
            PartnerCredential.created_at.desc(),
            PartnerCredential.client_id,
        )
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())
