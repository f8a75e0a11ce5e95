"""Job progression controls: a credential's default, one job's mode, a step."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import ControlPrincipal
from thanx_server.domain.states import FINISHED_JOB_STATES
from thanx_server.issuance import repository as issuance_repository
from thanx_server.issuance import tasks
from thanx_server.issuance.schemas import IssuanceJobOut
from thanx_server.issuance.service import job_view
from thanx_server.kit.clock import business_now
from thanx_server.kit.db import Database
from thanx_server.kit.errors import InvalidState, NotFound, ValidationFailed
from thanx_server.partner import repository as partner_repository
from thanx_server.sandbox.jobs import repository
from thanx_server.sandbox.jobs.schemas import ProgressionIn, ProgressionOut
from thanx_server.settings import Settings


async def set_default(
    session: AsyncSession, principal: ControlPrincipal, data: ProgressionIn
) -> ProgressionOut:
    """The progression of the jobs a partner credential creates from now on."""
    if principal.is_operator:
        if data.client_id is None:
            raise ValidationFailed("client_id: name the partner credential whose jobs these are")
        credential = await partner_repository.get_credential_by_client_id(session, data.client_id)
        if credential is None:
            raise NotFound(f"client_id: no partner credential '{data.client_id}'")
        credential_id, client_id = credential.id, credential.client_id
    else:
        if data.client_id not in (None, principal.client_id):
            raise ValidationFailed("client_id: a partner sets its own credential's progression")
        credential_id, client_id = principal.credential_id, principal.client_id
    delay = int(data.delay.total_seconds()) if data.delay is not None else None
    await repository.set_default(
        session,
        credential_id=credential_id,
        mode=data.mode,
        polls=data.polls if data.mode == "after_polls" else None,
        delay_seconds=delay if data.mode == "delay" else None,
    )
    return ProgressionOut(
        client_id=client_id,
        mode=data.mode,
        polls=data.polls if data.mode == "after_polls" else None,
        delay_seconds=delay if data.mode == "delay" else None,
    )


async def _job_in_scope(session: AsyncSession, principal: ControlPrincipal, job_id: str) -> None:
    job = await issuance_repository.get_job(session, principal.merchants(), job_id)
    if job is None:
        raise NotFound(f"id: no issuance job '{job_id}'")
    if job.state in FINISHED_JOB_STATES:
        raise InvalidState(f"id: issuance job '{job_id}' has finished ({job.state})")


async def set_job_mode(
    session: AsyncSession, principal: ControlPrincipal, job_id: str, data: ProgressionIn
) -> IssuanceJobOut:
    """Change one unfinished job's progression (``immediate`` releases it to the workers)."""
    await _job_in_scope(session, principal, job_id)
    run_after = business_now() + data.delay if data.mode == "delay" and data.delay else None
    await repository.set_control(
        session,
        job_id=job_id,
        mode=data.mode,
        polls_left=data.polls if data.mode == "after_polls" else None,
        run_after=run_after,
    )
    return await job_view(session, principal.merchants(), job_id)


async def step_job(
    db: Database, settings: Settings, principal: ControlPrincipal, job_id: str, *, chunks: int
) -> IssuanceJobOut:
    """Run ``chunks`` chunks of a job now (in transactions of their own, as a worker does)."""
    async with db.read_sessions() as session:
        await _job_in_scope(session, principal, job_id)
    config = tasks.WorkerConfig.from_settings(settings)
    if not await tasks.step(db, config, job_id, chunks=chunks):
        raise InvalidState(f"id: issuance job '{job_id}' is being run by a worker; step it later")
    async with db.read_sessions() as session:
        return await job_view(session, principal.merchants(), job_id)
