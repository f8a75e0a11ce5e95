"""GET /partner/reward_templates and /partner/reward_templates/{id} (scope rewards.issue)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from thanx_server.auth.dependencies import RewardsIssuer
from thanx_server.kit.deps import DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS
from thanx_server.kit.params import PageParams
from thanx_server.template import service
from thanx_server.template.schemas import (
    RewardTemplateEnvelope,
    RewardTemplateList,
    RewardTemplateOut,
)

router = APIRouter(tags=["Reward Templates"], responses=PARTNER_ERRORS)

MerchantFilter = Annotated[
    str | None,
    Query(description="Only this merchant's (default: every merchant of the credential)."),
]


@router.get(
    "/partner/reward_templates",
    response_model=RewardTemplateList,
    operation_id="listRewardTemplates",
)
async def list_reward_templates(
    session: DbSession,
    principal: RewardsIssuer,
    page: PageParams,
    merchant_id: MerchantFilter = None,
) -> RewardTemplateList:
    """Published reward templates, newest first."""
    result = await service.list_templates(session, principal, merchant_id=merchant_id, page=page)
    return RewardTemplateList(
        reward_templates=[
            RewardTemplateOut.model_validate(t, from_attributes=True) for t in result.items
        ],
        pagination=result.pagination(),
    )


@router.get(
    "/partner/reward_templates/{id}",
    response_model=RewardTemplateEnvelope,
    operation_id="getRewardTemplate",
    responses=NOT_FOUND,
)
async def get_reward_template(
    session: DbSession, principal: RewardsIssuer, id: str, merchant_id: MerchantFilter = None
) -> RewardTemplateEnvelope:
    """One published reward template."""
    template = await service.get_template(
        session, principal, template_id=id, merchant_id=merchant_id
    )
    return RewardTemplateEnvelope(
        reward_template=RewardTemplateOut.model_validate(template, from_attributes=True)
    )
