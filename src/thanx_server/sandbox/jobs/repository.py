"""Progression defaults and per-job controls; ``held`` is the clause the worker's claim uses.

Imports only models and the kit: ``issuance/repository.py`` imports ``held`` from here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.kit.upsert import upsert_insert
from thanx_server.models import IssuanceJob, SandboxJobControl, SandboxProgression

MODES = ("immediate", "paused", "step", "after_polls", "delay")


def held(business_now: datetime) -> ColumnElement[bool]:
    """The job has a control that keeps workers from claiming it now."""
    control = SandboxJobControl
    return exists().where(
        control.job_id == IssuanceJob.id,
        or_(
            control.mode.in_(("paused", "step")),
            and_(control.mode == "after_polls", control.polls_left > 0),
            and_(control.mode == "delay", control.run_after > business_now),
        ),
    )


async def default_for(session: AsyncSession, credential_id: str) -> SandboxProgression | None:
    return await session.get(SandboxProgression, credential_id)


async def set_default(
    session: AsyncSession,
    *,
    credential_id: str,
    mode: str,
    polls: int | None,
    delay_seconds: int | None,
) -> None:
    if mode == "immediate":
        await session.execute(
            delete(SandboxProgression).where(SandboxProgression.credential_id == credential_id)
        )
        return
    values = {"mode": mode, "polls": polls, "delay_seconds": delay_seconds, "updated_at": utcnow()}
    statement = upsert_insert(session, SandboxProgression).values(
        credential_id=credential_id, **values
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=["credential_id"], set_=values)
    )


async def get_control(session: AsyncSession, job_id: str) -> SandboxJobControl | None:
    return await session.get(SandboxJobControl, job_id)


async def set_control(
    session: AsyncSession,
    *,
    job_id: str,
    mode: str,
    polls_left: int | None,
    run_after: datetime | None,
) -> None:
    await session.execute(delete(SandboxJobControl).where(SandboxJobControl.job_id == job_id))
    if mode != "immediate":
        session.add(
            SandboxJobControl(job_id=job_id, mode=mode, polls_left=polls_left, run_after=run_after)
        )
        await session.flush()


async def polled(session: AsyncSession, scope: MerchantScope, job_id: str) -> None:
    """A GET of the job (by a caller who may see it): one poll fewer to wait for."""
    visible = select(IssuanceJob.id).where(
        IssuanceJob.id == job_id, scope.clause(IssuanceJob.merchant_id)
    )
    await session.execute(
        update(SandboxJobControl)
        .where(
            SandboxJobControl.job_id.in_(visible),
            SandboxJobControl.mode == "after_polls",
            SandboxJobControl.polls_left > 0,
        )
        .values(polls_left=SandboxJobControl.polls_left - 1)
    )


async def earliest_delay(
    session: AsyncSession, *, after: datetime, until: datetime
) -> datetime | None:
    """When the next delayed job (still waiting to run) falls due, within (after, until]."""
    found: datetime | None = await session.scalar(
        select(func.min(SandboxJobControl.run_after))
        .join(IssuanceJob, IssuanceJob.id == SandboxJobControl.job_id)
        .where(
            SandboxJobControl.mode == "delay",
            SandboxJobControl.run_after > after,
            SandboxJobControl.run_after <= until,
            IssuanceJob.state.in_(("pending", "processing")),
        )
    )
    return found


async def clear(session: AsyncSession) -> None:
    await session.execute(delete(SandboxJobControl))
    await session.execute(delete(SandboxProgression))


async def control_for(
    session: AsyncSession, credential_id: str, job: IssuanceJob
) -> SandboxJobControl | None:
    """The control a new job of this credential gets from its default progression (if any)."""
    default = await default_for(session, credential_id)
    if default is None:
        return None
    run_after = None
    if default.mode == "delay":
        run_after = job.created_at + timedelta(seconds=default.delay_seconds or 0)
    return SandboxJobControl(
        job_id=job.id,
        mode=default.mode,
        polls_left=default.polls if default.mode == "after_polls" else None,
        run_after=run_after,
    )
