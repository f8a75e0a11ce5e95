"""POST /purchases (the documented path) and POST /partner/purchases (alias)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from thanx_server.auth.dependencies import PartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.kit.deps import AppSettings, DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS, UNPROCESSABLE
from thanx_server.purchase import service
from thanx_server.purchase.schemas import PurchaseEnvelope, PurchaseIn

RESPONSES = dict(PARTNER_ERRORS)
RESPONSES.update({code: spec for code, spec in NOT_FOUND.items()})
RESPONSES[422] = UNPROCESSABLE[422] | {
    "description": "Idempotency key reused with another body (IDEMPOTENCY_KEY_REUSED)."
}
router = APIRouter(tags=["Purchases"], responses=RESPONSES)

PurchasesWriter = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.PURCHASES_WRITE))]


@router.post(
    "/purchases", status_code=201, response_model=PurchaseEnvelope, operation_id="createPurchase"
)
@router.post(
    "/partner/purchases",
    status_code=201,
    response_model=PurchaseEnvelope,
    operation_id="createPartnerPurchase",
    summary="Create Purchase (alias)",
)
async def create_purchase(
    request: Request,
    session: DbSession,
    principal: PurchasesWriter,
    settings: AppSettings,
    body: PurchaseIn,
    x_idempotency_key: Annotated[
        str | None,
        Header(
            alias="X-Idempotency-Key",
            description=(
                "Optional; a repeat with the same key replays the first response "
                "(the purchase is recorded, and its points added, once)."
            ),
        ),
    ] = None,
) -> JSONResponse:
    """Record a member's purchase: points are added and a feedback opportunity opens."""
    result = await service.create_purchase(
        session,
        principal,
        data=body.purchase,
        idempotency_key=x_idempotency_key,
        path=request.url.path,
        idempotency_ttl=settings.idempotency_ttl,
        feedback_window=settings.feedback_window,
        webhook_delay=settings.webhook_purchase_delay,
    )
    return JSONResponse(result.body, status_code=result.status_code)
