"""SQL for rewards as the Consumer API sees them.

The hot reads are statements built once at import (``MerchantScope.bound`` and named parameters):
SQLAlchemy then reuses their cache key and compiled form on every request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import LISTED_REWARD_STATES, reward_retired_clause, state_in
from thanx_server.kit.db import UTCDateTime
from thanx_server.kit.pagination import Page, Paged, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list_param
from thanx_server.models import (
    Campaign,
    CampaignVariant,
    CouponCode,
    Location,
    Reward,
    RewardTemplate,
)

LISTED_STATES = LISTED_REWARD_STATES


def _visible(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Rewards the API shows: in a listed state (never ``revoked``) and not retired."""
    return state_in(Reward.state, LISTED_STATES) & not_(
        reward_retired_clause(Reward.state, Reward.retire_at, now)
    )


_USER_REWARDS = Paged(
    select(Reward)
    .where(
        Reward.user_id == bindparam("user_id"),
        MerchantScope.bound(Reward.merchant_id),
        in_list_param(Reward.state, "states"),
        _visible(bindparam("now", type_=UTCDateTime())),
    )
    .order_by(Reward.created_at.desc(), Reward.id.desc()),
    small=True,  # one user's rewards
)

_USER_REWARD = (
    select(Reward)
    .where(
        Reward.id == bindparam("reward_id"),
        Reward.user_id == bindparam("user_id"),
        MerchantScope.bound(Reward.merchant_id),
        state_in(Reward.state, LISTED_STATES),
    )
    .with_for_update()
)


async def list_rewards(
    session: AsyncSession,
    *,
    user_id: str,
    scope: MerchantScope,
    states: Sequence[str],
    now: datetime,
    page: Page,
) -> PageResult[Reward]:
    """The user's visible rewards in ``states``, newest first."""
    params = {"user_id": user_id, "states": list(states), "now": now, **scope.params()}
    return await paginate(session, _USER_REWARDS, page, params)


async def get_reward(
    session: AsyncSession, *, reward_id: str, user_id: str, scope: MerchantScope
) -> Reward | None:
    """The user's listed reward with this id (retired or not: the service tells), locked for
    update where the database can."""
    params = {"reward_id": reward_id, "user_id": user_id, **scope.params()}
    return await session.scalar(_USER_REWARD, params)


async def grantable_variant(
    session: AsyncSession, *, campaign_id: str, scope: MerchantScope
) -> tuple[Campaign, CampaignVariant, RewardTemplate] | None:
    """The campaign and its first treatment variant with a template (grant uses it)."""
    row = (
        await session.execute(
            select(Campaign, CampaignVariant, RewardTemplate)
            .join(CampaignVariant, CampaignVariant.campaign_id == Campaign.id)
            .join(RewardTemplate, RewardTemplate.id == CampaignVariant.reward_template_id)
            .where(Campaign.id == campaign_id, scope.clause(Campaign.merchant_id))
            .order_by(CampaignVariant.position)
            .limit(1)
        )
    ).first()
    return (row[0], row[1], row[2]) if row else None


async def location_of(session: AsyncSession, scope: MerchantScope, location_id: str) -> str | None:
    """The id of a location of the scope's merchant, or None."""
    return await session.scalar(
        select(Location.id).where(Location.id == location_id, scope.clause(Location.merchant_id))
    )


async def claim_coupon_code(
    session: AsyncSession, *, template_id: str | None, reward_id: str, now: datetime
) -> str | None:
    """Claim the oldest unclaimed code of the template's pool for ``reward_id``; None when the
    pool is empty. One UPDATE: the candidate row is picked ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL (a concurrent activation takes the next code instead of waiting; SQLite, whose
    writers are serialised, renders no lock clause), and the ``reward_id IS NULL`` guard plus
    the unique ``reward_id`` make a double claim impossible either way."""
    if template_id is None:
        return None
    pick = (
        select(CouponCode.id)
        .where(CouponCode.template_id == template_id, CouponCode.reward_id.is_(None))
        .order_by(CouponCode.created_at, CouponCode.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return await session.scalar(
        update(CouponCode)
        .where(CouponCode.id == pick, CouponCode.reward_id.is_(None))
        .values(reward_id=reward_id, claimed_at=now)
        .returning(CouponCode.code)
        .execution_options(synchronize_session=False)
    )
