"""GET /partner/merchants and /partner/locations, and their seed aliases (/partner/metadata/)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from thanx_server.auth.dependencies import AnyPartner
from thanx_server.kit.deps import DbSession
from thanx_server.kit.openapi import PARTNER_ERRORS
from thanx_server.kit.params import PageParams
from thanx_server.merchant import service
from thanx_server.merchant.schemas import LocationList, LocationOut, MerchantList, MerchantOut

router = APIRouter(tags=["Metadata"], responses=PARTNER_ERRORS)


@router.get("/partner/merchants", response_model=MerchantList, operation_id="getMerchants")
@router.get(
    "/partner/metadata/merchants",
    response_model=MerchantList,
    operation_id="getMetadataMerchants",
    summary="Get Merchants (seed alias)",
)
async def get_merchants(session: DbSession, principal: AnyPartner) -> MerchantList:
    """Merchants that opted into this credential's integration. Not paginated."""
    merchants = await service.list_merchants(session, principal)
    return MerchantList(
        merchants=[MerchantOut(id=m.id, name=m.name, handle=m.handle) for m in merchants]
    )


@router.get("/partner/locations", response_model=LocationList, operation_id="getPartnerLocations")
@router.get(
    "/partner/metadata/locations",
    response_model=LocationList,
    operation_id="getMetadataLocations",
    summary="Get Locations (seed alias)",
)
async def get_locations(
    session: DbSession,
    principal: AnyPartner,
    page: PageParams,
    merchant_id: Annotated[str | None, Query(description="Only this merchant's locations.")] = None,
) -> LocationList:
    """Locations of the credential's merchants, newest first."""
    result = await service.list_locations(session, principal, merchant_id=merchant_id, page=page)
    return LocationList(
        locations=[LocationOut.model_validate(loc, from_attributes=True) for loc in result.items],
        pagination=result.pagination(),
    )
