"""POST /purchases (the documented path) and POST /partner/purchases (alias)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from thanx_server.auth.dependencies import PartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.kit.deps import AppSettings, DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS
from thanx_server.purchase import service
from thanx_server.purchase.schemas import PurchaseEnvelope, PurchaseIn, PurchaseOut

RESPONSES = dict(PARTNER_ERRORS)
RESPONSES.update({code: spec for code, spec in NOT_FOUND.items()})
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
    session: DbSession, principal: PurchasesWriter, settings: AppSettings, body: PurchaseIn
) -> PurchaseEnvelope:
    """Record a member's purchase: points are added and a feedback opportunity opens."""
    fields = body.purchase
    recorded = await service.record_purchase(
        session,
        principal.merchants(principal.merchant(fields.merchant_id)),
        user_id=fields.user_id,
        amount=fields.amount,
        purchased_at=fields.purchased_at,
        location_id=fields.location_id,
        card_id=fields.card_id,
        products=fields.products,
        feedback_window=settings.feedback_window,
        webhook_delay=settings.webhook_purchase_delay,
    )
    return PurchaseEnvelope(purchase=PurchaseOut.from_recorded(recorded))
