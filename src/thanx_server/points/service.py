"""Rules for points (reference C.9, issue 16).

* A merchant has at most one points experience: what its points are called and how many a
  purchase earns per currency unit (``conversion``, used by ``purchase/``). A member's balance is
  the membership's ``points_balance``.
* Points products are read by end users (their token's merchant) and by partner credentials
  (their merchants). The exchange (``POST /points_products/{id}/rewards``) is the end user's: one
  guarded UPDATE takes the cost from the balance only if it is there, then the reward is written
  in the same transaction; a failed guard writes nothing and answers ``POINTS_EXCHANGE_FAILURE``.
  So there is never a reward without its deduction, and never a negative balance.
* Operators create experiences and products (admin CLI, demo data).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.auth.tokens import UserPrincipal
from thanx_server.domain.states import REWARD_STATES
from thanx_server.kit.clock import business_now
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.ids import new_id
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.merchant import repository as merchant_repository
from thanx_server.models import PointsExperience, PointsProduct, Reward, RewardTemplate
from thanx_server.points import repository
from thanx_server.points.errors import PointsExchangeFailure
from thanx_server.reward.issue import coupon_values
from thanx_server.template import repository as template_repository

EARN_TYPE = "points_exchange"
Principal = UserPrincipal | PartnerPrincipal


def _scope(principal: Principal, merchant_id: str | None) -> MerchantScope:
    if isinstance(principal, UserPrincipal):
        if merchant_id is not None and merchant_id != principal.merchant_id:
            return MerchantScope(())  # another merchant's: nothing (lists empty, ids 404)
        return MerchantScope.one(principal.merchant_id)
    return principal.merchants(merchant_id)


async def list_experiences(
    session: AsyncSession, principal: Principal, *, merchant_id: str | None
) -> Sequence[PointsExperience]:
    return await repository.experiences(session, _scope(principal, merchant_id))


async def get_experience(
    session: AsyncSession, principal: Principal, experience_id: str
) -> PointsExperience:
    found = await repository.experience(session, _scope(principal, None), experience_id)
    if found is None:
        raise NotFound(f"id: no points experience '{experience_id}'")
    return found


async def balance(
    session: AsyncSession, principal: Principal, experience_id: str, *, user_id: str | None
) -> tuple[PointsExperience, str, Decimal, str]:
    """The experience, the member, their balance and tier. An end-user token's user wins over
    ``user_id``; a partner credential must name the member."""
    experience = await get_experience(session, principal, experience_id)
    if isinstance(principal, UserPrincipal):
        user_id = principal.user_id
    elif user_id is None:
        raise ValidationFailed("user_id: required when calling with a partner credential")
    membership = await repository.membership(
        session, MerchantScope.one(experience.merchant_id), user_id
    )
    if membership is None:
        raise NotFound("user_id: no such member of this merchant")
    return experience, user_id, membership.points_balance, membership.tier


async def list_products(
    session: AsyncSession,
    principal: Principal,
    *,
    merchant_id: str | None,
    experience_id: str | None,
    page: Page,
) -> PageResult[tuple[PointsProduct, RewardTemplate]]:
    return await repository.products(
        session, _scope(principal, merchant_id), experience_id=experience_id, page=page
    )


def exchange_window_open(product: PointsProduct, now: datetime) -> bool:
    if product.exchange_start_at is not None and now < product.exchange_start_at:
        return False
    return product.exchange_end_at is None or now <= product.exchange_end_at


async def exchange(session: AsyncSession, user: UserPrincipal, product_id: str) -> Reward:
    """Turn ``cost`` points of the token's member into a reward of the product's template."""
    scope = MerchantScope.one(user.merchant_id)
    found = await repository.product(session, scope, product_id)
    if found is None:
        raise NotFound(f"id: no points product '{product_id}'")
    product, template = found
    now = business_now()
    if not exchange_window_open(product, now):
        raise PointsExchangeFailure("This points product cannot be exchanged at this time.")
    left = await repository.deduct(session, scope, user_id=user.user_id, cost=product.cost)
    if left is None:
        raise PointsExchangeFailure(
            f"Points exchange has failed: it costs {product.cost} points, more than the balance."
        )
    reward = Reward(
        id=new_id(), user_id=user.user_id, **product_reward_values(product, template, now)
    )
    session.add(reward)
    await session.flush()
    await session.refresh(reward)  # merchant_olo, read by the answer
    return reward


def product_reward_values(
    product: PointsProduct, template: RewardTemplate, now: datetime
) -> dict[str, Any]:
    """A reward bought with points: the template's content, available at once, never retired."""
    return {
        "merchant_id": product.merchant_id,
        "campaign_id": None,
        "variant_id": None,
        "reward_template_id": template.id,
        "state": REWARD_STATES.initial,
        "earn_type": EARN_TYPE,
        "redeem": {**(template.redeem or {}), "venue": template.redemption_venue},
        "images": dict(template.images or {}),
        "fine_print": template.fine_print,
        "instructions": template.instructions,
        **coupon_values(template),
        "available_at": now,
        "retire_at": None,
        "created_at": now,
        "updated_at": now,
    }


# --- Operator side (admin CLI, demo data) ------------------------------------------------------


async def experience_of(session: AsyncSession, scope: MerchantScope) -> PointsExperience | None:
    """The points experience of the scope's one merchant (operator side), if it has one."""
    return await repository.experience_of_merchant(session, scope)


async def create_experience(
    session: AsyncSession,
    *,
    merchant_id: str,
    name: str,
    currency_name: str = "point",
    currency_plural: str = "points",
    currency_description: str | None = None,
    conversion: Decimal = Decimal("1"),
    images: dict[str, Any] | None = None,
) -> PointsExperience:
    if await merchant_repository.get_merchant(session, merchant_id) is None:
        raise NotFound(f"merchant_id: no merchant '{merchant_id}'")
    if conversion <= 0:
        raise ValidationFailed("conversion: must be greater than 0")
    if await repository.experience_of_merchant(session, MerchantScope.one(merchant_id)):
        raise ValidationFailed(f"merchant_id: merchant '{merchant_id}' has a points experience")
    experience = PointsExperience(
        merchant_id=merchant_id,
        name=name,
        currency_name=currency_name,
        currency_plural=currency_plural,
        currency_description=currency_description,
        conversion=conversion,
        images=images or {},
    )
    repository.add(session, experience)
    await session.flush()
    return experience


async def create_product(
    session: AsyncSession,
    *,
    merchant_id: str,
    reward_template_id: str,
    cost: Decimal,
    exchange_start_at: datetime | None = None,
    exchange_end_at: datetime | None = None,
    valid_location_ids: Sequence[str] = (),
) -> PointsProduct:
    scope = MerchantScope.one(merchant_id)
    experience = await repository.experience_of_merchant(session, scope)
    if experience is None:
        raise ValidationFailed(f"merchant_id: merchant '{merchant_id}' has no points experience")
    if await template_repository.get_published(session, scope, reward_template_id) is None:
        raise NotFound(
            f"reward_template_id: no published template '{reward_template_id}' of this merchant"
        )
    if cost <= 0:
        raise ValidationFailed("cost: must be greater than 0")
    if exchange_start_at and exchange_end_at and exchange_end_at < exchange_start_at:
        raise ValidationFailed("exchange_end_at: must not be before exchange_start_at")
    product = PointsProduct(
        merchant_id=merchant_id,
        points_experience_id=experience.id,
        reward_template_id=reward_template_id,
        cost=cost,
        exchange_start_at=exchange_start_at,
        exchange_end_at=exchange_end_at,
        valid_location_ids=list(valid_location_ids),
    )
    repository.add(session, product)
    await session.flush()
    return product
