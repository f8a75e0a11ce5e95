"""The queries a scrape runs: a few grouped counts over indexed columns, never a row per job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import JobState
from thanx_server.models.issuance import IssuanceJob

WAITING = (JobState.PENDING, JobState.PROCESSING)

_JOBS_BY_STATE = select(IssuanceJob.state, func.count()).group_by(IssuanceJob.state)
# One MIN per state walks ix_issuance_jobs_state_created from its start.
_OLDEST_WAITING = select(func.min(IssuanceJob.created_at)).where(IssuanceJob.state.in_(WAITING))


async def jobs_by_state(session: AsyncSession) -> dict[str, int]:
    rows = (await session.execute(_JOBS_BY_STATE)).all()
    return {str(state): int(count) for state, count in rows}


async def oldest_waiting_job(session: AsyncSession) -> datetime | None:
    value: datetime | None = (await session.execute(_OLDEST_WAITING)).scalar_one()
    return value
