"""The queries a scrape runs: a few grouped counts over indexed columns, never a row per job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import JobState
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models.issuance import IssuanceJob

WAITING = (JobState.PENDING, JobState.PROCESSING)

_JOBS_BY_STATE = select(IssuanceJob.state, func.count()).group_by(IssuanceJob.state)
# One MIN per state walks ix_issuance_jobs_state_created from its start.
_OLDEST_WAITING = select(func.min(IssuanceJob.created_at)).where(IssuanceJob.state.in_(WAITING))


async def jobs_by_state(
    session: AsyncSession, scope: MerchantScope | None = None
) -> dict[str, int]:
    """Jobs by state: all of them (a scrape), or a scope's (the console's overview)."""
    stmt = _JOBS_BY_STATE
    if scope is not None:
        stmt = stmt.where(scope.clause(IssuanceJob.merchant_id))
    rows = (await session.execute(stmt)).all()
    return {str(state): int(count) for state, count in rows}


async def oldest_waiting_job(
    session: AsyncSession, scope: MerchantScope | None = None
) -> datetime | None:
    stmt = _OLDEST_WAITING
    if scope is not None:
        stmt = stmt.where(scope.clause(IssuanceJob.merchant_id))
    value: datetime | None = (await session.execute(stmt)).scalar_one()
    return value
