"""SQL for rewards as the Consumer API sees them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Campaign, CampaignVariant, Membership, Reward, RewardTemplate

LISTED_STATES = ("available", "active", "used")


def _visible(now: datetime) -> ColumnElement[bool]:
    """Rewards the API shows: never revoked or retired, and not past ``retire_at`` unless used."""
    return or_(
        Reward.state == "used",
        Reward.retire_at.is_(None),
        Reward.retire_at > now,
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
    stmt = (
        select(Reward)
        .where(
            Reward.user_id == user_id,
            scope.clause(Reward.merchant_id),
            Reward.state.in_(states),
            _visible(now),
        )
        .order_by(Reward.created_at.desc(), Reward.id.desc())
    )
    return await paginate(session, stmt, page)


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
