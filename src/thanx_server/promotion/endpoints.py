"""POST/GET /partner/promotions, GET /partner/promotions/{id}, GET/POST .../{id}/codes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from thanx_server.auth.dependencies import PartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.kit.deps import AppSettings, DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS, error_doc
from thanx_server.kit.params import PageParams
from thanx_server.promotion import service
from thanx_server.promotion.schemas import (
    CodeBatchEnvelope,
    GenerateCodesIn,
    PromotionCodeList,
    PromotionCodeOut,
    PromotionEnvelope,
    PromotionIn,
    PromotionList,
)

router = APIRouter(tags=["Promotions"], responses={**PARTNER_ERRORS, **NOT_FOUND})

PromosReader = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.PROMOS_READ))]
PromosWriter = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.PROMOS_WRITE))]
MerchantFilter = Annotated[
    str | None, Query(max_length=64, description="One of the credential's merchants.")
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="X-Idempotency-Key",
        description="Optional; a repeat with the same key replays the first response.",
    ),
]
UNPROCESSABLE_CODES: dict[int | str, dict[str, Any]] = {
    422: error_doc(
        "Too many codes (CODE_LIMIT_EXCEEDED), or the idempotency key was used with another "
        "body (IDEMPOTENCY_KEY_REUSED)."
    )
}


@router.post(
    "/partner/promotions",
    status_code=201,
    response_model=PromotionEnvelope,
    operation_id="createPromotion",
    responses=UNPROCESSABLE_CODES,
)
async def create_promotion(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: PromosWriter,
    body: PromotionIn,
    x_idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a promotion, optionally with its first `code_count` single-use codes."""
    result = await service.create_promotion(
        session,
        principal,
        merchant_id=body.merchant_id,
        fields=body.promotion,
        idempotency_key=x_idempotency_key,
        path=request.url.path,
        idempotency_ttl=settings.idempotency_ttl,
    )
    return JSONResponse(result.body, status_code=result.status_code)


@router.get("/partner/promotions", response_model=PromotionList, operation_id="getPromotions")
async def list_promotions(
    session: DbSession,
    principal: PromosReader,
    page: PageParams,
    merchant_id: MerchantFilter = None,
) -> PromotionList:
    """Active promotions of the credential's merchants, newest first."""
    result, now = await service.list_promotions(
        session, principal, merchant_id=merchant_id, page=page
    )
    return PromotionList(
        promotions=[service.promotion_out(p, now) for p in result.items],
        pagination=result.pagination(),
    )


@router.get(
    "/partner/promotions/{id}", response_model=PromotionEnvelope, operation_id="getPromotion"
)
async def get_promotion(
    id: str, session: DbSession, principal: PromosReader, merchant_id: MerchantFilter = None
) -> PromotionEnvelope:
    promotion = await service.get_promotion(
        session, principal, promotion_id=id, merchant_id=merchant_id
    )
    return PromotionEnvelope(promotion=promotion)


@router.get(
    "/partner/promotions/{id}/codes",
    response_model=PromotionCodeList,
    operation_id="getPromotionCodes",
)
async def list_promotion_codes(
    id: str,
    session: DbSession,
    principal: PromosReader,
    page: PageParams,
    merchant_id: MerchantFilter = None,
    batch_id: Annotated[
        str | None, Query(max_length=64, description="Only the codes of one generated batch.")
    ] = None,
) -> PromotionCodeList:
    """The promotion's codes, in code order."""
    result = await service.list_codes(
        session, principal, promotion_id=id, merchant_id=merchant_id, batch_id=batch_id, page=page
    )
    return PromotionCodeList(
        promotion_codes=[
            PromotionCodeOut(
                code=c.code,
                promotion_id=c.promotion_id,
                batch_id=c.batch_id,
                state=c.state,
                created_at=c.created_at,
                redeemed_at=c.redeemed_at,
            )
            for c in result.items
        ],
        pagination=result.pagination(),
    )


@router.post(
    "/partner/promotions/{id}/codes",
    status_code=201,
    response_model=CodeBatchEnvelope,
    operation_id="generatePromotionCodes",
    responses=UNPROCESSABLE_CODES,
)
async def generate_promotion_codes(
    id: str,
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: PromosWriter,
    body: GenerateCodesIn,
    merchant_id: MerchantFilter = None,
    x_idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Add a batch of 1 to 100,000 single-use codes; list them with `batch_id`."""
    result = await service.generate_codes(
        session,
        principal,
        promotion_id=id,
        merchant_id=merchant_id,
        body_merchant_id=body.merchant_id,
        count=body.count,
        idempotency_key=x_idempotency_key,
        path=request.url.path,
        idempotency_ttl=settings.idempotency_ttl,
    )
    return JSONResponse(result.body, status_code=result.status_code)
