"""GET /partner/scopes (and its seed alias) and POST /partner/oauth/token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from thanx_server.auth import tokens
from thanx_server.auth.dependencies import AnyPartner, PartnerAuth
from thanx_server.auth.schemas import TokenRequest, TokenResponse
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.kit.deps import AppSettings, DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS
from thanx_server.merchant.schemas import ScopeList

router = APIRouter(responses=PARTNER_ERRORS)


@router.get(
    "/partner/scopes", response_model=ScopeList, tags=["Metadata"], operation_id="getScopes"
)
@router.get(
    "/partner/metadata/scopes",
    response_model=ScopeList,
    tags=["Metadata"],
    operation_id="getMetadataScopes",
    summary="Get Scopes (seed alias)",
)
async def get_scopes(principal: AnyPartner) -> ScopeList:
    """The scopes granted to the calling credential."""
    return ScopeList(scopes=sorted(principal.scopes))


TokenMinter = Annotated[PartnerPrincipal, Depends(PartnerAuth(Scope.AUTH_CREATE))]


@router.post(
    "/partner/oauth/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    tags=["Auth"],
    operation_id="createToken",
    responses=NOT_FOUND,
)
async def create_token(
    body: TokenRequest, session: DbSession, principal: TokenMinter, settings: AppSettings
) -> TokenResponse:
    """Mint an end-user access token (scope `passwordless`) for an enrolled member of the merchant.

    Unknown users, non-members and identifiers naming different users: 404 `Unknown user`.
    """
    minted = await tokens.mint_token(
        session,
        principal,
        merchant_id=body.merchant_id,
        user_id=body.user_id,
        email=body.email,
        phone=body.phone,
        expires_in=body.expires_in,
        default_ttl=settings.token_default_ttl,
    )
    return TokenResponse(
        access_token=minted.access_token,
        created_at=int(minted.created_at.timestamp()),
        expires_in=minted.expires_in,
    )
