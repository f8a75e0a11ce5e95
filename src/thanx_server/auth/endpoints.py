"""GET /partner/scopes (and the seed alias /partner/metadata/scopes)."""

from __future__ import annotations

from fastapi import APIRouter

from thanx_server.auth.dependencies import AnyPartner
from thanx_server.kit.openapi import PARTNER_ERRORS
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
