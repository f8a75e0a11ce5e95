"""SQL for rewards as the Consumer API sees them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list
from thanx_server.models import Campaign, CampaignVariant, Reward, RewardTemplate

LISTED_STATES = ("available", "active", "used")


# Visibility, written once: a reward is shown when it is in a listed state (never ``revoked``)
# and *current*: used, or not past its ``retire_at``. A listed reward that is not current is
# retired: hidden, and REWARD_EXPIRED when activated or finalised.
def _listed() -> ColumnElement[bool]:
    return Reward.state.in_(LISTED_STATES)


def _current(now: datetime) -> ColumnElement[bool]:
    return or_(Reward.state == "used", Reward.retire_at.is_(None), Reward.retire_at > now)


async def list_rewards(
    session: AsyncSession,
    *,
    user_id: str,
    scope: MerchantScope,
    states: Sequence[str],
    now: datetime,
    page: Page,
) -> PageResult[Reward]:
    """The user's visible rewards in ``states``, newest first (one user's: a small list)."""
    stmt = (
        select(Reward)
        .where(
            Reward.user_id == user_id,
            scope.clause(Reward.merchant_id),
            in_list(Reward.state, states),
            _listed(),
            _current(now),
        )
        .order_by(Reward.created_at.desc(), Reward.id.desc())
    )
    return await paginate(session, stmt, page, small=True)


@dataclass(frozen=True, slots=True)
class HeldReward:
    reward: Reward
    retired: bool  # listed, but past retire_at and never used


async def get_reward(
    session: AsyncSession, *, reward_id: str, user_id: str, scope: MerchantScope, now: datetime
) -> HeldReward | None:
    """The user's listed reward with this id (retired or not), locked for update where the
    database can."""
    row = (
        await session.execute(
            select(Reward, _current(now))
            .where(
                Reward.id == reward_id,
                Reward.user_id == user_id,
                scope.clause(Reward.merchant_id),
                _listed(),
            )
            .with_for_update(of=Reward)
        )
    ).first()
    return HeldReward(reward=row[0], retired=not row[1]) if row else None


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
