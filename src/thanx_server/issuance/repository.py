"""SQL for issuance jobs, their outcomes and the rewards they issue.

Request side: read a job (scoped), its failures, revoke it. Worker side: claim a job with a lease,
resolve a chunk of identifiers to members set-wise, bulk-insert rewards and outcomes, advance the
counters under the lease. The one dialect switch for claiming is ``_lock_for_claim``; bulk inserts
go through ``kit/bulk`` (one statement per chunk and table).

Every UPDATE that moves a job (or a reward) to another state takes the states it may move from from
the transition table (``JOB_STATES.allowed_from(target)``, domain/states.py), never from a list of
its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import JOB_STATES, REWARD_STATES, JobState, RewardState
from thanx_server.kit.bulk import insert_rows
from thanx_server.kit.clock import business_now
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.wakeup import after_commit
from thanx_server.models import (
    Campaign,
    CampaignVariant,
    IssuanceJob,
    IssuanceOutcome,
    Reward,
    RewardTemplate,
)
from thanx_server.sandbox.jobs.repository import held

# --- request side -------------------------------------------------------------------------


async def get_job(session: AsyncSession, scope: MerchantScope, job_id: str) -> IssuanceJob | None:
    return await session.scalar(
        select(IssuanceJob).where(IssuanceJob.id == job_id, scope.clause(IssuanceJob.merchant_id))
    )


# What a list of jobs shows (the console): the counters, never the identifiers (up to 10,000).
JOB_LIST_COLUMNS = (
    IssuanceJob.id,
    IssuanceJob.merchant_id,
    IssuanceJob.campaign_id,
    IssuanceJob.state,
    IssuanceJob.total_count,
    IssuanceJob.processed_count,
    IssuanceJob.success_count,
    IssuanceJob.failure_count,
    IssuanceJob.created_at,
    IssuanceJob.completed_at,
)


def list_jobs(scope: MerchantScope, state: str | None) -> Select[Any]:
    """The scope's jobs (optionally of one state), newest first; a statement for ``paginate``."""
    stmt: Select[Any] = cast(
        "Select[Any]", select(*JOB_LIST_COLUMNS).where(scope.clause(IssuanceJob.merchant_id))
    )
    if state is not None:
        stmt = stmt.where(IssuanceJob.state == state)
    return stmt.order_by(IssuanceJob.created_at.desc(), IssuanceJob.id.desc())


# Built once (a hot write, issue 17): the campaign and the named variant of it in one round trip.
_CAMPAIGN_AND_VARIANT = (
    select(Campaign, CampaignVariant)
    .outerjoin(
        CampaignVariant,
        and_(
            CampaignVariant.id == bindparam("variant_id"),
            CampaignVariant.campaign_id == Campaign.id,
        ),
    )
    .where(Campaign.id == bindparam("campaign_id"), MerchantScope.bound(Campaign.merchant_id))
)


async def get_campaign_variant(
    session: AsyncSession, scope: MerchantScope, campaign_id: str, variant_id: str
) -> tuple[Campaign | None, CampaignVariant | None]:
    """The campaign (in ``scope``) and its variant ``variant_id`` (None: not one of its)."""
    params = {"campaign_id": campaign_id, "variant_id": variant_id, **scope.params()}
    row = (await session.execute(_CAMPAIGN_AND_VARIANT, params)).first()
    if row is None:
        return None, None
    return row[0], row[1]


async def failures(session: AsyncSession, job_id: str) -> list[tuple[int, str, str]]:
    stmt = (
        select(
            IssuanceOutcome.identifier_index,
            IssuanceOutcome.identifier_type,
            IssuanceOutcome.error,
        )
        .where(IssuanceOutcome.job_id == job_id, IssuanceOutcome.error.is_not(None))
        .order_by(IssuanceOutcome.identifier_index)
    )
    return [(index, kind, error or "") for index, kind, error in await session.execute(stmt)]


# Committing a new job wakes the idle workers listening here (kit/wakeup).
WAKEUP_CHANNEL = "thanx_issuance"


def add_job(session: AsyncSession, job: IssuanceJob) -> None:
    session.add(job)


async def wake_workers(session: AsyncSession) -> None:
    """Idle workers look for work as soon as this transaction commits (not at their next poll)."""
    await after_commit(session, WAKEUP_CHANNEL)


async def mark_revoked(session: AsyncSession, job_id: str, now: datetime) -> bool:
    """Move a revocable job to ``revoked``; False when it is (no longer) revocable."""
    result = await session.execute(
        update(IssuanceJob)
        .where(
            IssuanceJob.id == job_id,
            IssuanceJob.state.in_(JOB_STATES.allowed_from(JobState.REVOKED)),
        )
        .values(state=JobState.REVOKED, revoked_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def revoke_rewards(session: AsyncSession, job_id: str, now: datetime) -> int:
    """One set-based statement: every reward of the job not yet used leaves the consumer lists
    (``available`` and ``active`` ones, retired or not: see ``REWARD_STATES``)."""
    result = await session.execute(
        update(Reward)
        .where(
            Reward.issuance_job_id == job_id,
            Reward.state.in_(REWARD_STATES.allowed_from(RewardState.REVOKED)),
        )
        .values(state=RewardState.REVOKED, revoked_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


# --- worker side --------------------------------------------------------------------------

CLAIM_COLUMNS = (
    IssuanceJob.id,
    IssuanceJob.merchant_id,
    IssuanceJob.campaign_id,
    IssuanceJob.variant_id,
    IssuanceJob.total_count,
    IssuanceJob.processed_count,
    IssuanceJob.success_count,
    IssuanceJob.failure_count,
    IssuanceJob.attempts,
)


def _lock_for_claim(session: AsyncSession, stmt: Select[Any]) -> Select[Any]:
    """The dialect switch for claiming.

    PostgreSQL: lock the candidate row and skip rows other workers are claiming, so N workers
    claim N different jobs without waiting on each other. SQLite: the caller runs in a write
    session (``BEGIN IMMEDIATE``), which already makes claimers take turns.
    """
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def _runnable(now: datetime, *, job_id: str | None = None) -> Select[str]:
    """The oldest runnable job: one that may become ``processing`` (``pending``), or one that is
    ``processing`` with an expired/released lease (its lease changes hands, its state does not).

    ``now`` is lease time (real). A sandbox's job progression may hold a job (``held``, on the
    business clock); ``job_id``: that job only, held or not (a sandbox's step)."""
    statement = select(IssuanceJob.id).where(
        or_(
            IssuanceJob.state.in_(JOB_STATES.allowed_from(JobState.PROCESSING)),
            and_(
                IssuanceJob.state == JobState.PROCESSING,
                or_(IssuanceJob.lease_owner.is_(None), IssuanceJob.lease_expires_at < now),
            ),
        )
    )
    if job_id is not None:
        statement = statement.where(IssuanceJob.id == job_id)
    else:
        statement = statement.where(~held(business_now()))
    return statement.order_by(IssuanceJob.created_at, IssuanceJob.id).limit(1)


async def any_runnable(session: AsyncSession, now: datetime) -> bool:
    """A plain read: is there anything to claim? (An idle worker takes no lock.)"""
    return await session.scalar(_runnable(now)) is not None


async def claim_next(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    started_at: datetime | None = None,
    job_id: str | None = None,
) -> Any:
    """Claim the oldest runnable job: pending, or processing with an expired/released lease.
    ``now`` is lease time (real); ``started_at`` business time (the sandbox clock), if other."""
    job_id = await session.scalar(_lock_for_claim(session, _runnable(now, job_id=job_id)))
    if job_id is None:
        return None
    await session.execute(
        update(IssuanceJob)
        .where(IssuanceJob.id == job_id)
        .values(
            state=JobState.PROCESSING,
            lease_owner=owner,
            lease_expires_at=lease_until,
            attempts=IssuanceJob.attempts + 1,
            started_at=func.coalesce(IssuanceJob.started_at, started_at or now),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    row: Any = (await session.execute(select(*CLAIM_COLUMNS).where(IssuanceJob.id == job_id))).one()
    return row


async def job_row(session: AsyncSession, job_id: str) -> IssuanceJob:
    """The job as this transaction sees it (after its own UPDATEs)."""
    job = await session.scalar(
        select(IssuanceJob)
        .where(IssuanceJob.id == job_id)
        .execution_options(populate_existing=True)
    )
    assert job is not None
    return job


async def job_identifiers(session: AsyncSession, job_id: str) -> list[Any]:
    value = await session.scalar(select(IssuanceJob.identifiers).where(IssuanceJob.id == job_id))
    return list(value or [])


async def issue_context(
    session: AsyncSession, *, campaign_id: str, variant_id: str
) -> tuple[Campaign | None, CampaignVariant | None, RewardTemplate | None]:
    campaign = await session.get(Campaign, campaign_id)
    variant = await session.get(CampaignVariant, variant_id)
    template = None
    if variant is not None and variant.reward_template_id is not None:
        template = await session.get(RewardTemplate, variant.reward_template_id)
    return campaign, variant, template


async def issued_user_ids(session: AsyncSession, job_id: str) -> set[str]:
    """Users the job already served (earlier chunks, maybe by another worker): those holding
    one of its rewards, and the holdouts recorded for a Control variant."""
    rewarded = select(Reward.user_id).where(Reward.issuance_job_id == job_id)
    held_out = select(IssuanceOutcome.user_id).where(
        IssuanceOutcome.job_id == job_id,
        IssuanceOutcome.error.is_(None),
        IssuanceOutcome.user_id.is_not(None),
    )
    rows = await session.scalars(rewarded.union(held_out))
    return {user_id for user_id in rows if user_id is not None}


async def hold_lease(
    session: AsyncSession,
    *,
    job_id: str,
    owner: str,
    processed_count: int,
    now: datetime,
    lease_until: datetime,
) -> bool:
    """Renew the lease and lock the job row for this chunk's transaction.

    False when the job is no longer this worker's (its lease was reclaimed) or has moved on from
    ``processed_count``: then the chunk must not be written.
    """
    result = await session.execute(
        update(IssuanceJob)
        .where(
            IssuanceJob.id == job_id,
            IssuanceJob.lease_owner == owner,
            IssuanceJob.state == JobState.PROCESSING,
            IssuanceJob.processed_count == processed_count,
        )
        .values(lease_expires_at=lease_until, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


REWARD_COLUMNS = ("id", "user_id", "identifier_index")
OUTCOME_COLUMNS = ("identifier_index", "identifier_type", "user_id", "reward_id", "error")


async def insert_rewards(
    session: AsyncSession, *, shared: dict[str, Any], rows: list[tuple[str, str, int]]
) -> None:
    """One statement: ``rows`` are ``REWARD_COLUMNS``; ``shared`` the columns every row has.

    Written in id order: the worker's ids ascend with the user (``tasks._with_ids``), so the
    primary key and the user index both take their entries in key order."""
    await insert_rows(
        session,
        Reward.__table__,  # type: ignore[arg-type]
        shared=shared,
        columns=REWARD_COLUMNS,
        rows=sorted(rows),
    )


async def insert_outcomes(
    session: AsyncSession,
    *,
    job_id: str,
    rows: list[tuple[int, str, str | None, str | None, str | None]],
) -> None:
    """One statement: ``rows`` are ``OUTCOME_COLUMNS``."""
    await insert_rows(
        session,
        IssuanceOutcome.__table__,  # type: ignore[arg-type]
        shared={"job_id": job_id},
        columns=OUTCOME_COLUMNS,
        rows=rows,
    )


async def advance(
    session: AsyncSession,
    *,
    job_id: str,
    processed_count: int,
    successes: int,
    failures: int,
    finished: bool,
    now: datetime,
) -> None:
    """Counters after a chunk; the last chunk also completes the job and drops the lease.

    Runs in the chunk's transaction after ``hold_lease`` locked the job as this worker's.
    """
    values: dict[str, Any] = {
        "processed_count": processed_count,
        "success_count": IssuanceJob.success_count + successes,
        "failure_count": IssuanceJob.failure_count + failures,
        "updated_at": now,
    }
    stmt = update(IssuanceJob).where(IssuanceJob.id == job_id)
    if finished:
        values.update(
            state=JobState.COMPLETED, completed_at=now, lease_owner=None, lease_expires_at=None
        )
        stmt = stmt.where(IssuanceJob.state.in_(JOB_STATES.allowed_from(JobState.COMPLETED)))
    await session.execute(stmt.values(**values).execution_options(synchronize_session=False))


async def complete(session: AsyncSession, *, job_id: str, owner: str, now: datetime) -> bool:
    """Complete a job whose every identifier is processed (a worker died before saying so)."""
    result = await session.execute(
        update(IssuanceJob)
        .where(
            IssuanceJob.id == job_id,
            IssuanceJob.lease_owner == owner,
            IssuanceJob.state.in_(JOB_STATES.allowed_from(JobState.COMPLETED)),
            IssuanceJob.processed_count == IssuanceJob.total_count,
        )
        .values(
            state=JobState.COMPLETED,
            completed_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def fail(
    session: AsyncSession, *, job_id: str, owner: str, reason: str, now: datetime
) -> bool:
    result = await session.execute(
        update(IssuanceJob)
        .where(
            IssuanceJob.id == job_id,
            IssuanceJob.lease_owner == owner,
            IssuanceJob.state.in_(JOB_STATES.allowed_from(JobState.FAILED)),
        )
        .values(
            state=JobState.FAILED,
            error=reason[:1000],
            completed_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def release(session: AsyncSession, *, job_id: str, owner: str, now: datetime) -> None:
    """Give the lease back at shutdown so another worker resumes at once.

    A clean hand-back is not an attempt: ``attempts`` counts claims that ended abnormally (plus
    the one in progress), so rolling restarts never turn a long job into a "poison" one.
    """
    await session.execute(
        update(IssuanceJob)
        .where(
            IssuanceJob.id == job_id,
            IssuanceJob.lease_owner == owner,
            IssuanceJob.state == JobState.PROCESSING,
        )
        .values(
            lease_owner=None,
            lease_expires_at=now,
            updated_at=now,
            attempts=IssuanceJob.attempts - 1,
        )
        .execution_options(synchronize_session=False)
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def first_job_of_campaign(session: AsyncSession, campaign_id: str) -> IssuanceJob | None:
    return await session.scalar(
        select(IssuanceJob)
        .where(IssuanceJob.campaign_id == campaign_id)
        .order_by(IssuanceJob.created_at, IssuanceJob.id)
        .limit(1)
    )
