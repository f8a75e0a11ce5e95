"""GET /points_experiences(/{id}), GET /points_experiences/{id}/balance, GET /points_products,
POST /points_products/{id}/rewards (Consumer API, reference C.9)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from thanx_server.auth.dependencies import CurrentUser, UserOrPartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.auth.tokens import UserPrincipal
from thanx_server.kit.deps import DbSession
from thanx_server.kit.openapi import NOT_FOUND, PARTNER_ERRORS, error_doc
from thanx_server.kit.params import PageParams
from thanx_server.points import service
from thanx_server.points.schemas import (
    BalanceEnvelope,
    BalanceOut,
    PointsExperienceEnvelope,
    PointsExperienceList,
    PointsExperienceOut,
    PointsProductList,
    PointsProductOut,
)
from thanx_server.reward.schemas import RewardEnvelope, RewardOut

router = APIRouter(tags=["Points (Consumer API)"], responses={**PARTNER_ERRORS, **NOT_FOUND})

# An end-user token (its merchant), or a partner credential (its merchants; any scope).
PointsReader = Annotated[UserPrincipal | PartnerPrincipal, Depends(UserOrPartnerAuth())]
BalanceReader = Annotated[
    UserPrincipal | PartnerPrincipal, Depends(UserOrPartnerAuth(Scope.USERS_READ))
]
MerchantFilter = Annotated[str | None, Query(max_length=64, description="Limit to one merchant.")]


@router.get(
    "/points_experiences",
    response_model=PointsExperienceList,
    operation_id="getPointsExperiences",
)
async def list_points_experiences(
    session: DbSession, principal: PointsReader, merchant_id: MerchantFilter = None
) -> PointsExperienceList:
    """The points experiences of the token's merchant (or the credential's merchants)."""
    found = await service.list_experiences(session, principal, merchant_id=merchant_id)
    return PointsExperienceList(points_experiences=[PointsExperienceOut.of(e) for e in found])


@router.get(
    "/points_experiences/{experience_id}",
    response_model=PointsExperienceEnvelope,
    operation_id="getPointsExperience",
)
async def get_points_experience(
    experience_id: str, session: DbSession, principal: PointsReader
) -> PointsExperienceEnvelope:
    experience = await service.get_experience(session, principal, experience_id)
    return PointsExperienceEnvelope(points_experience=PointsExperienceOut.of(experience))


@router.get(
    "/points_experiences/{experience_id}/balance",
    response_model=BalanceEnvelope,
    operation_id="getPointsBalance",
)
async def get_points_balance(
    experience_id: str,
    session: DbSession,
    principal: BalanceReader,
    user_id: Annotated[
        str | None,
        Query(max_length=64, description="Required with a partner credential (`users.read`)."),
    ] = None,
) -> BalanceEnvelope:
    """The member's points balance and tier (the token's user; with a partner credential, the
    member named by `user_id`)."""
    experience, member, points, tier = await service.balance(
        session, principal, experience_id, user_id=user_id
    )
    return BalanceEnvelope(
        balance=BalanceOut(
            points_experience_id=experience.id, user_id=member, balance=points, tier=tier
        )
    )


@router.get("/points_products", response_model=PointsProductList, operation_id="getPointsProducts")
async def list_points_products(
    session: DbSession,
    principal: PointsReader,
    page: PageParams,
    merchant_id: MerchantFilter = None,
    points_experience_id: Annotated[str | None, Query(max_length=64)] = None,
) -> PointsProductList:
    """What points can buy, newest first."""
    result = await service.list_products(
        session,
        principal,
        merchant_id=merchant_id,
        experience_id=points_experience_id,
        page=page,
    )
    return PointsProductList(
        points_products=[PointsProductOut.of(p, t) for p, t in result.items],
        pagination=result.consumer_pagination(),
    )


@router.post(
    "/points_products/{product_id}/rewards",
    status_code=201,
    response_model=RewardEnvelope,
    operation_id="exchangePointsProduct",
    responses={
        400: error_doc(
            "POINTS_EXCHANGE_FAILURE: the balance does not hold the product's cost, or the "
            "product is outside its exchange window (nothing is deducted)."
        )
    },
)
async def exchange_points_product(
    product_id: str, session: DbSession, user: CurrentUser
) -> RewardEnvelope:
    """Exchange the member's points for the product's reward (`earn.type: points_exchange`):
    the cost is deducted and the reward written in one transaction."""
    reward = await service.exchange(session, user, product_id)
    return RewardEnvelope(reward=RewardOut.of(reward))
