"""Rules for issuing rewards and for issuance jobs (CONTRACT rows 2, 8-11).

* ``issue_rewards`` validates synchronously (merchant, campaign, variant, campaign not ended) and
  writes the job row in the request's transaction: the row is the queue entry, so no job exists
  for a request that rolled back and none is lost once the 202 went out.
* ``X-Idempotency-Key`` replays the original 202, or refuses a different body
  (idempotency/service.py).
* ``revoke_job`` is one guarded job UPDATE plus one set-based reward UPDATE, inside the request:
  a job goes from ``completed``/``failed`` straight to ``revoked`` (``JOB_STATES``), no job is ever
  left half revoked.

Unlike other services, this one renders the job's wire shape (``job_out``): the 202 body is what
an idempotent replay must return byte for byte, so it is built and stored here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import ControlPrincipal, PartnerPrincipal, merchant_id_of_call
from thanx_server.campaign.service import campaign_state
from thanx_server.domain.states import (
    FINISHED_JOB_STATES,
    JOB_STATES,
    CampaignState,
    JobState,
)
from thanx_server.idempotency import service as idempotency
from thanx_server.issuance import repository
from thanx_server.issuance.schemas import (
    FailureOut,
    IssuanceJobOut,
    IssueRewardsIn,
    SummaryOut,
    SummaryWithFailures,
)
from thanx_server.kit.clock import business_now
from thanx_server.kit.db import Database
from thanx_server.kit.errors import InvalidState, NotFound, ValidationFailed
from thanx_server.kit.ids import new_id
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.models import IssuanceJob
from thanx_server.sandbox.jobs import repository as progression


@dataclass(frozen=True, slots=True)
class IssueResult:
    status_code: int
    body: dict[str, Any]


def progress_percent(job: IssuanceJob) -> int:
    if job.total_count <= 0:
        return 100
    return min(100, job.processed_count * 100 // job.total_count)


def job_out(job: IssuanceJob, failures: list[tuple[int, str, str]] | None) -> IssuanceJobOut:
    """The job as partners see it; ``failures`` is given once the job has finished."""
    summary: SummaryOut | None = None
    if job.state in FINISHED_JOB_STATES:
        if failures:
            summary = SummaryWithFailures(
                success_count=job.success_count,
                failure_count=job.failure_count,
                failures=[
                    FailureOut(identifier_index=i, identifier_type=t, error=e)
                    for i, t, e in failures
                ],
            )
        else:
            summary = SummaryOut(success_count=job.success_count, failure_count=job.failure_count)
    return IssuanceJobOut(
        id=job.id,
        merchant_id=job.merchant_id,
        campaign_id=job.campaign_id,
        variant_id=job.variant_id,
        state=job.state,
        total_count=job.total_count,
        processed_count=job.processed_count,
        success_count=job.success_count,
        failure_count=job.failure_count,
        progress_percent=progress_percent(job),
        requested_count=job.total_count,
        issued_count=job.success_count,
        failed_count=job.failure_count,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
        revoked_at=job.revoked_at,
        summary=summary,
    )


async def new_job(
    session: AsyncSession,
    *,
    scope: MerchantScope,
    merchant_id: str,
    campaign_id: str,
    variant_id: str,
    identifiers: list[dict[str, str]],
    credential_id: str | None,
) -> IssuanceJob:
    """Check the campaign and variant and build (not add) a pending job."""
    scope_campaign, variant = await repository.get_campaign_variant(
        session, scope, campaign_id, variant_id
    )
    if scope_campaign is None:
        raise NotFound(f"campaign_id: no campaign '{campaign_id}' of merchant '{merchant_id}'")
    if variant is None:
        raise ValidationFailed(
            f"variant_id: '{variant_id}' is not a variant of campaign '{campaign_id}'"
        )
    now = business_now()
    if campaign_state(scope_campaign, now) == CampaignState.ENDED:
        raise InvalidState(f"campaign_id: campaign '{campaign_id}' has ended")
    return IssuanceJob(
        id=new_id(),
        merchant_id=merchant_id,
        campaign_id=campaign_id,
        variant_id=variant_id,
        credential_id=credential_id,
        state=JOB_STATES.initial,
        identifiers=identifiers,
        total_count=len(identifiers),
        processed_count=0,
        success_count=0,
        failure_count=0,
        attempts=0,
        created_at=now,
        updated_at=now,
    )


async def issue_rewards(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    data: IssueRewardsIn,
    idempotency_key: str | None,
    path: str,
    idempotency_ttl: timedelta,
    sandbox: bool = False,
) -> IssueResult:
    """POST /partner/campaigns/issue: a pending job (202), or the replay of an earlier one.

    In a sandbox, the credential's job progression (``sandbox/jobs``) goes with the new job."""
    key = idempotency.check_key(idempotency_key)
    merchant_id = principal.merchant(data.merchant_id)
    now = utcnow()
    request_hash = ""
    if key is not None:
        request_hash = idempotency.fingerprint("POST", path, data.model_dump(mode="json"))
        stored = await idempotency.lookup(
            session,
            credential_id=principal.credential_id,
            key=key,
            request_hash=request_hash,
            now=now,
        )
        if stored is not None:
            return IssueResult(stored.status_code, stored.body)
    job = await new_job(
        session,
        scope=principal.merchants(merchant_id),
        merchant_id=merchant_id,
        campaign_id=data.campaign_id,
        variant_id=data.variant_id,
        # Validated TypedDicts: already the plain dicts the job stores (no copy of 10,000).
        identifiers=cast("list[dict[str, str]]", data.identifiers),
        credential_id=principal.credential_id,
    )
    body = {"issuance_job": job_out(job, None).model_dump(mode="json")}
    control = (
        await progression.control_for(session, principal.credential_id, job) if sandbox else None
    )

    def add_job() -> None:
        repository.add_job(session, job)
        if control is not None:
            session.add(control)

    if key is None:
        add_job()
        await session.flush()
        await repository.wake_workers(session)
        return IssueResult(202, body)
    # A replay adds no job; waking the workers for nothing costs them one look.
    await repository.wake_workers(session)
    stored = await idempotency.store_or_replay(
        session,
        credential_id=principal.credential_id,
        key=key,
        request_hash=request_hash,
        response=idempotency.StoredResponse(202, body),
        add_effects=add_job,
        now=now,
        ttl=idempotency_ttl,
    )
    return IssueResult(stored.status_code, stored.body)


async def get_job(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    job_id: str,
    merchant_id: str | None,
    sandbox: Database | None = None,
) -> IssuanceJobOut:
    """``sandbox``: in a sandbox, a job waiting for N polls (``sandbox/jobs``) counts this one,
    in a transaction of its own (a read's session never commits)."""
    scope = principal.merchants(merchant_id)
    if sandbox is not None:
        # Before the read opens its session: the count must not nest in (and be rolled back
        # with) a transaction of the read's.
        async with sandbox.write_sessions() as counting, counting.begin():
            await progression.polled(counting, scope, job_id)
    job = await repository.get_job(session, scope, job_id)
    if job is None:
        raise NotFound(f"id: no issuance job '{job_id}'")
    return await _view(session, job)


async def revoke_job(
    session: AsyncSession,
    principal: PartnerPrincipal | ControlPrincipal,
    *,
    job_id: str,
    merchant_id: str | None,
    body_merchant_id: str | None = None,
) -> IssuanceJobOut:
    """Revoke a finished job: every reward it issued that is not used yet is taken back (a
    partner's call, or the console's: an operator or a partner signed in there)."""
    scope = principal.merchants(merchant_id_of_call(query=merchant_id, body=body_merchant_id))
    job = await repository.get_job(session, scope, job_id)
    if job is None:
        raise NotFound(f"id: no issuance job '{job_id}'")
    now = business_now()
    # The guarded UPDATE settles concurrent revokes: only one moves the job, the other is a 422.
    if not JOB_STATES.can_move(job.state, JobState.REVOKED) or not await repository.mark_revoked(
        session, job.id, now
    ):
        allowed = " or ".join(JOB_STATES.allowed_from(JobState.REVOKED))
        raise InvalidState(
            f"issuance job '{job_id}' is {job.state}; only {allowed} jobs can be revoked"
        )
    await repository.revoke_rewards(session, job.id, now)
    await session.refresh(job)
    return await _view(session, job)


async def list_jobs(
    session: AsyncSession, scope: MerchantScope, *, state: str | None, page: Page
) -> PageResult[Any]:
    """A page of the scope's jobs, newest first (rows of ``repository.JOB_LIST_COLUMNS``)."""
    if state is not None and state not in set(JobState):
        allowed = ", ".join(JobState)
        raise ValidationFailed(f"state: '{state}' is not one of {allowed}")
    return await paginate(session, repository.list_jobs(scope, state), page)


async def job_view(session: AsyncSession, scope: MerchantScope, job_id: str) -> IssuanceJobOut:
    """A job as partners see it (the sandbox's job controls answer with it)."""
    job = await repository.get_job(session, scope, job_id)
    if job is None:
        raise NotFound(f"id: no issuance job '{job_id}'")
    return await _view(session, job)


async def _view(session: AsyncSession, job: IssuanceJob) -> IssuanceJobOut:
    failures = None
    if job.state in FINISHED_JOB_STATES and job.failure_count:
        failures = await repository.failures(session, job.id)
    return job_out(job, failures)


async def create_job(
    session: AsyncSession,
    *,
    merchant_id: str,
    campaign_id: str,
    variant_id: str,
    identifiers: list[dict[str, str]],
) -> IssuanceJob:
    """A pending job created by the operator side (demo data, benchmarks): no credential."""
    job = await new_job(
        session,
        scope=MerchantScope((merchant_id,)),
        merchant_id=merchant_id,
        campaign_id=campaign_id,
        variant_id=variant_id,
        identifiers=identifiers,
        credential_id=None,
    )
    repository.add_job(session, job)
    await session.flush()
    await repository.wake_workers(session)
    return job


async def first_job_of_campaign(session: AsyncSession, campaign_id: str) -> IssuanceJob | None:
    return await repository.first_job_of_campaign(session, campaign_id)
