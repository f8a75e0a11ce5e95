"""POST /partner/campaigns/issue, GET /partner/issuance_jobs/{id}, POST .../{id}/revoke.

The issue endpoint sits here rather than in ``campaign/`` because what it creates is an issuance
job; its rules are in ``issuance/service.py``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import JSONResponse

from thanx_server.auth.dependencies import RewardsIssuer
from thanx_server.issuance import service
from thanx_server.issuance.schemas import IssuanceJobEnvelope, IssueRewardsIn, RevokeIn
from thanx_server.kit.deps import AppSettings, DbSession, SandboxDatabase
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS, UNPROCESSABLE

router = APIRouter(tags=["Issuance Jobs"], responses=PARTNER_ERRORS)

MerchantQuery = Annotated[
    str | None, Query(description="Optional; the job's merchant (403 if not the credential's).")
]


@router.post(
    "/partner/campaigns/issue",
    status_code=202,
    response_model=IssuanceJobEnvelope,
    operation_id="issueRewards",
    tags=["Campaigns"],
    responses={**NOT_FOUND, 422: UNPROCESSABLE[422] | {"description": (
        "Idempotency key reused with another body (IDEMPOTENCY_KEY_REUSED), "
        "or the campaign has ended (INVALID_STATE).")}},
)  # fmt: skip
async def issue_rewards(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: RewardsIssuer,
    body: IssueRewardsIn,
    x_idempotency_key: Annotated[
        str | None,
        Header(
            alias="X-Idempotency-Key",
            description="Optional; a repeat with the same key replays the first response.",
        ),
    ] = None,
) -> JSONResponse:
    """Issue a campaign variant's reward to up to 10,000 members, asynchronously (a job)."""
    result = await service.issue_rewards(
        session,
        principal,
        data=body,
        idempotency_key=x_idempotency_key,
        path=request.url.path,
        idempotency_ttl=settings.idempotency_ttl,
        sandbox=settings.is_sandbox,
    )
    return JSONResponse(result.body, status_code=result.status_code)


@router.get(
    "/partner/issuance_jobs/{id}",
    response_model=IssuanceJobEnvelope,
    operation_id="getIssuanceJob",
    responses=NOT_FOUND,
)
async def get_issuance_job(
    principal: RewardsIssuer,
    sandbox: SandboxDatabase,
    session: DbSession,
    id: str,
    merchant_id: MerchantQuery = None,
) -> IssuanceJobEnvelope:
    job = await service.get_job(
        session, principal, job_id=id, merchant_id=merchant_id, sandbox=sandbox
    )
    return IssuanceJobEnvelope(issuance_job=job)


@router.post(
    "/partner/issuance_jobs/{id}/revoke",
    response_model=IssuanceJobEnvelope,
    operation_id="revokeIssuanceJob",
    responses={**NOT_FOUND, **UNPROCESSABLE},
)
async def revoke_issuance_job(
    session: DbSession,
    principal: RewardsIssuer,
    id: str,
    merchant_id: MerchantQuery = None,
    body: Annotated[RevokeIn | None, Body()] = None,
) -> IssuanceJobEnvelope:
    """Revoke a completed or failed job: its unused rewards are taken back (200, `revoked`)."""
    job = await service.revoke_job(
        session,
        principal,
        job_id=id,
        merchant_id=merchant_id,
        body_merchant_id=body.merchant_id if body else None,
    )
    return IssuanceJobEnvelope(issuance_job=job)
