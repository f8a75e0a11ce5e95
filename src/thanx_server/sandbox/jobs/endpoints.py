"""``/sandbox/jobs/...``: how issuance jobs progress (a credential's default, one job), steps."""

from __future__ import annotations

from thanx_server.auth.dependencies import Controller
from thanx_server.issuance.schemas import IssuanceJobEnvelope
from thanx_server.kit.deps import AppDatabase, AppSettings, DbSession
from thanx_server.sandbox.jobs import service
from thanx_server.sandbox.jobs.schemas import ProgressionEnvelope, ProgressionIn, StepIn
from thanx_server.sandbox.routing import control_router

router = control_router()


@router.put(
    "/sandbox/jobs/progression",
    response_model=ProgressionEnvelope,
    operation_id="sandboxJobProgressionSet",
)
async def set_progression(
    principal: Controller, session: DbSession, body: ProgressionIn
) -> ProgressionEnvelope:
    """How the jobs a partner credential creates from now on progress (a partner: its own;
    an operator: the credential named by `client_id`)."""
    return ProgressionEnvelope(progression=await service.set_default(session, principal, body))


@router.post(
    "/sandbox/jobs/{job_id}/progression",
    response_model=IssuanceJobEnvelope,
    operation_id="sandboxJobModeSet",
)
async def set_job_mode(
    principal: Controller, session: DbSession, job_id: str, body: ProgressionIn
) -> IssuanceJobEnvelope:
    """Change one unfinished job's progression (`immediate` hands it to the workers)."""
    job = await service.set_job_mode(session, principal, job_id, body)
    return IssuanceJobEnvelope(issuance_job=job)


@router.post(
    "/sandbox/jobs/{job_id}/step", response_model=IssuanceJobEnvelope, operation_id="sandboxJobStep"
)
async def step_job(
    principal: Controller,
    job_id: str,
    db: AppDatabase,
    settings: AppSettings,
    body: StepIn | None = None,
) -> IssuanceJobEnvelope:
    """Run chunks of a job now (`paused` and `step` jobs wait for this); answers with the job,
    `processing` with its `progress_percent` until the last chunk."""
    chunks = (body or StepIn()).chunks
    job = await service.step_job(db, settings, principal, job_id, chunks=chunks)
    return IssuanceJobEnvelope(issuance_job=job)
