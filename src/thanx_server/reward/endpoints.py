"""Consumer API rewards: GET /rewards, GET /rewards/{id}, PATCH activate/finalize, POST grant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from thanx_server.auth.dependencies import CurrentUser, UserOrPartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.auth.tokens import UserPrincipal
from thanx_server.kit.deps import AppSettings, DbSession
from thanx_server.kit.errors import NotFound
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS
from thanx_server.kit.params import PageParams, array_query
from thanx_server.reward import service
from thanx_server.reward.schemas import (
    GrantRequest,
    RewardEnvelope,
    RewardList,
    RewardOut,
    RewardUpdateIn,
)

router = APIRouter(tags=["Rewards (Consumer API)"], responses={**PARTNER_ERRORS, **NOT_FOUND})

RewardReader = Annotated[
    UserPrincipal | PartnerPrincipal, Depends(UserOrPartnerAuth(Scope.REWARDS_ISSUE))
]


@router.get("/rewards", response_model=RewardList, operation_id="getRewards")
async def list_rewards(
    session: DbSession,
    principal: RewardReader,
    page: PageParams,
    states: Annotated[
        list[str], array_query("states", "Any of available, active, used (default: all three).")
    ],
    merchant_id: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[
        str | None, Query(max_length=64, description="Ignored with an end-user token.")
    ] = None,
) -> RewardList:
    """The user's rewards, newest first. With an end-user token, the token's user wins over
    `user_id`; a partner credential with `rewards.issue` must name `user_id`."""
    result = await service.list_rewards(
        session, principal, states=states, user_id=user_id, merchant_id=merchant_id, page=page
    )
    return RewardList(
        rewards=[RewardOut.of(r) for r in result.items], pagination=result.consumer_pagination()
    )


@router.get("/rewards/{reward_id}", response_model=RewardEnvelope, operation_id="getReward")
async def get_reward(reward_id: str, session: DbSession, user: CurrentUser) -> RewardEnvelope:
    return RewardEnvelope(reward=RewardOut.of(await service.get_reward(session, user, reward_id)))


@router.patch(
    "/rewards/{reward_id}/activate", response_model=RewardEnvelope, operation_id="activateReward"
)
async def activate_reward(reward_id: str, session: DbSession, user: CurrentUser) -> RewardEnvelope:
    """`available` → `active`.

    Errors: REWARD_ALREADY_USED, REWARD_EXPIRED, REWARD_NOT_YET_AVAILABLE.
    """
    return RewardEnvelope(reward=RewardOut.of(await service.activate(session, user, reward_id)))


@router.patch(
    "/rewards/{reward_id}/finalize", response_model=RewardEnvelope, operation_id="finalizeReward"
)
async def finalize_reward(reward_id: str, session: DbSession, user: CurrentUser) -> RewardEnvelope:
    """`active` → `used`. Errors: REWARD_ALREADY_USED, REWARD_NOT_ACTIVE, REWARD_EXPIRED."""
    return RewardEnvelope(reward=RewardOut.of(await service.finalize(session, user, reward_id)))


@router.patch("/rewards/{reward_id}", response_model=RewardEnvelope, operation_id="updateReward")
async def update_reward(
    reward_id: str, body: RewardUpdateIn, session: DbSession, user: CurrentUser
) -> RewardEnvelope:
    """Set the redemption location of an active reward: a location of the reward's merchant.

    Errors: REWARD_NOT_ACTIVE (not activated yet), REWARD_ALREADY_USED, REWARD_EXPIRED (400);
    RESOURCE_NOT_FOUND (404) for another merchant's location, naming `reward.location_id`.
    """
    reward = await service.update(session, user, reward_id, location_id=body.reward.location_id)
    return RewardEnvelope(reward=RewardOut.of(reward))


@router.post(
    "/rewards/grant",
    response_model=RewardEnvelope,
    status_code=201,
    operation_id="grantReward",
)
async def grant_reward(
    body: GrantRequest, session: DbSession, principal: RewardReader, settings: AppSettings
) -> RewardEnvelope:
    """Sandbox only (404 in production): give a member a reward of a campaign."""
    if not settings.is_sandbox:
        raise NotFound()
    reward = await service.grant(
        session, principal, campaign_id=body.campaign_id, user_id=body.user_id
    )
    return RewardEnvelope(reward=RewardOut.of(reward))
