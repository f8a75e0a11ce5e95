"""SQL for rewards as the Consumer API sees them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, bindparam, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.db import UTCDateTime
from thanx_server.kit.fastread import Reads, select_row
from thanx_server.kit.pagination import Page, PagedReadQuery, PageResult, read_page
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list_param
from thanx_server.models import Campaign, CampaignVariant, Membership, Reward, RewardTemplate
from thanx_server.models.states import LISTED_REWARD_STATES, reward_retired_clause

LISTED_STATES = LISTED_REWARD_STATES


def _visible(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Rewards the API shows: never revoked (the callers filter on listed states) or retired."""
    return not_(reward_retired_clause(Reward.state, Reward.retire_at, now))


class RewardRow(NamedTuple):
    """What the Consumer API shows of a reward."""

    id: str
    user_id: str
    merchant_id: str
    campaign_id: str | None
    state: str
    earn_type: str
    redeem: dict[str, Any]
    images: dict[str, Any]
    coupon_code: str | None
    fine_print: str | None
    instructions: str | None
    available_at: datetime
    activated_at: datetime | None
    used_at: datetime | None
    retire_at: datetime | None


_USER_REWARDS = PagedReadQuery(
    RewardRow,
    select_row(RewardRow, Reward)
    .where(
        Reward.user_id == bindparam("user_id"),
        in_list_param(Reward.merchant_id, "merchant_ids"),
        in_list_param(Reward.state, "states"),
        _visible(bindparam("now", type_=UTCDateTime())),
    )
    .order_by(Reward.created_at.desc(), Reward.id.desc()),
    small=True,  # one user's rewards
)


async def list_rewards(
    reads: Reads,
    *,
    user_id: str,
    scope: MerchantScope,
    states: Sequence[str],
    now: datetime,
    page: Page,
) -> PageResult[RewardRow]:
    return await read_page(
        reads,
        _USER_REWARDS,
        page,
        user_id=user_id,
        merchant_ids=scope.merchant_ids,
        states=list(states),
        now=now,
    )


async def get_reward(
    session: AsyncSession, *, reward_id: str, user_id: str, scope: MerchantScope, now: datetime
) -> Reward | None:
    """The user's listed reward with this id, locked for update where the database can."""
    stmt = (
        select(Reward)
        .where(
            Reward.id == reward_id,
            Reward.user_id == user_id,
            scope.clause(Reward.merchant_id),
            Reward.state.in_(LISTED_STATES),
        )
        .with_for_update()
    )
    return await session.scalar(stmt)


async def is_member(session: AsyncSession, *, user_id: str, merchant_id: str) -> bool:
    return await session.get(Membership, (user_id, merchant_id)) is not None


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
