"""POST/GET /partner/campaigns and GET /partner/campaigns/{id} (scope rewards.issue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from thanx_server.auth.dependencies import RewardsIssuer
from thanx_server.campaign import service
from thanx_server.campaign.schemas import (
    CampaignCreate,
    CampaignEnvelope,
    CampaignList,
    CampaignOut,
    VariantOut,
)
from thanx_server.kit.deps import DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS
from thanx_server.kit.params import PageParams, array_query

router = APIRouter(tags=["Campaigns"], responses=PARTNER_ERRORS)


def campaign_out(view: service.CampaignView) -> CampaignOut:
    c = view.campaign
    return CampaignOut(
        id=c.id,
        merchant_id=c.merchant_id,
        name=c.name,
        objective=c.objective,
        fine_print=c.fine_print,
        start_at=c.start_at,
        end_at=c.end_at,
        redeemable_from=c.redeemable_from,
        redeemable_to=c.redeemable_to,
        time_zone=c.time_zone,
        state=view.state,
        created_at=c.created_at,
        variants=[
            VariantOut(id=v.id, name=v.name, reward_template_id=v.reward_template_id)
            for v in view.variants
        ],
    )


@router.post(
    "/partner/campaigns",
    response_model=CampaignEnvelope,
    status_code=201,
    operation_id="createCampaign",
)
async def create_campaign(
    session: DbSession, principal: RewardsIssuer, body: CampaignCreate
) -> CampaignEnvelope:
    """Create a partner campaign with 1-4 variants (a `Control` variant is a holdout)."""
    view = await service.create_partner_campaign(session, principal, data=body.campaign)
    return CampaignEnvelope(campaign=campaign_out(view))


@router.get("/partner/campaigns", response_model=CampaignList, operation_id="listCampaigns")
async def list_campaigns(
    session: DbSession,
    principal: RewardsIssuer,
    page: PageParams,
    merchant_id: Annotated[
        str | None, Query(description="Only this merchant's (default: all of the credential's).")
    ] = None,
    states: list[str] = array_query("states", "Filter: scheduled, active, ended."),
) -> CampaignList:
    """Campaigns created through the Partner API, newest first."""
    result = await service.list_campaigns(
        session, principal, merchant_id=merchant_id, states=states, page=page
    )
    return CampaignList(
        campaigns=[campaign_out(view) for view in result.items],
        pagination=result.pagination(),
    )


@router.get(
    "/partner/campaigns/{id}",
    response_model=CampaignEnvelope,
    operation_id="getCampaign",
    responses=NOT_FOUND,
)
async def get_campaign(
    session: DbSession,
    principal: RewardsIssuer,
    id: str,
    merchant_id: Annotated[
        str | None, Query(description="Optional; the campaign's merchant.")
    ] = None,
) -> CampaignEnvelope:
    view = await service.get_campaign(session, principal, campaign_id=id, merchant_id=merchant_id)
    return CampaignEnvelope(campaign=campaign_out(view))
