"""What falls due on the clock: the work ``advance`` runs, in time order, before it answers.

Each kind of scheduled work is one ``DueWork``: ``next_due`` says when its earliest pending
piece falls due (at or before ``until``; None when nothing does), ``run`` runs everything due at
the clock's current time, in transactions of its own, and says how many pieces it ran. A new
kind of scheduled work (the delayed webhooks, say) adds itself to ``DUE_WORK``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.issuance import repository as issuance_repository
from thanx_server.issuance import tasks as issuance_tasks
from thanx_server.kit.db import Database
from thanx_server.kit.time import utcnow
from thanx_server.sandbox.jobs import repository as progression
from thanx_server.settings import Settings


class DueWork(Protocol):
    name: str

    async def next_due(
        self, session: AsyncSession, *, now: datetime, until: datetime
    ) -> datetime | None: ...

    async def run(self, db: Database, settings: Settings) -> int: ...


class IssuanceJobs:
    """Issuance jobs waiting for a worker are due now, delayed ones (``sandbox/jobs``) at their
    ``run_after``: ``advance`` drains them, so when it answers every job that was due has
    finished. Paused and stepped jobs are never due."""

    name = "issuance_jobs"

    async def next_due(
        self, session: AsyncSession, *, now: datetime, until: datetime
    ) -> datetime | None:
        # Leases are infrastructure time: runnable means claimable by a worker right now.
        if await issuance_repository.any_runnable(session, utcnow()):
            return now
        return await progression.earliest_delay(session, after=now, until=until)

    async def run(self, db: Database, settings: Settings) -> int:
        return await issuance_tasks.drain(db, issuance_tasks.WorkerConfig.from_settings(settings))


DUE_WORK: tuple[DueWork, ...] = (IssuanceJobs(),)


async def earliest(
    session: AsyncSession, *, now: datetime, until: datetime
) -> tuple[datetime, DueWork] | None:
    """The first piece of work due at or before ``until`` (ties: in ``DUE_WORK`` order)."""
    found: tuple[datetime, DueWork] | None = None
    for work in DUE_WORK:
        at = await work.next_due(session, now=now, until=until)
        if at is not None and at <= until and (found is None or at < found[0]):
            found = (at, work)
    return found
