"""Arrange helpers for templates, campaigns and rewards, inserted as rows.

Used by the token and consumer-reward tests, which only need these records to exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.ids import new_id
from thanx_server.kit.time import utcnow
from thanx_server.models import Campaign, CampaignVariant, Merchant, Reward, RewardTemplate, User
from thanx_server.reward.issue import reward_values


async def template(session: AsyncSession, merchant: Merchant, **kw: Any) -> RewardTemplate:
    tpl = RewardTemplate(
        id=new_id(),
        merchant_id=merchant.id,
        name=kw.get("name", "Free Coffee"),
        type="discount",
        subtype="free_item",
        description="One free coffee, any size",
        fine_print="Valid at participating locations",
        instructions="Ring up as a free drip coffee",
        discount={"type": "free_item", "value": None},
        redemption_venue=kw.get("venue", "instore"),
        redeem={
            "type": "manual",
            "text": "Free coffee",
            "detail": "Any size",
            "window": kw.get("window", 60),
        },
        images={
            "index": {"small": "https://img.example/s.png", "large": "https://img.example/l.png"}
        },
        published=kw.get("published", True),
    )
    session.add(tpl)
    await session.flush()
    return tpl


async def campaign(
    session: AsyncSession, merchant: Merchant, tpl: RewardTemplate, **kw: Any
) -> tuple[Campaign, CampaignVariant]:
    now = utcnow()
    camp = Campaign(
        id=new_id(),
        merchant_id=merchant.id,
        name=kw.get("name", "Summer Coffee"),
        objective="Re-engage lapsed customers",
        fine_print=kw.get("fine_print", "Limit one per customer"),
        start_at=now - timedelta(days=1),
        end_at=now + timedelta(days=30),
        redeemable_from=kw.get("redeemable_from", now - timedelta(days=1)),
        redeemable_to=kw.get("redeemable_to", now + timedelta(days=60)),
        time_zone=merchant.time_zone,
    )
    session.add(camp)
    await session.flush()
    control = CampaignVariant(id=new_id(), campaign_id=camp.id, name="Control", position=0)
    treatment = CampaignVariant(
        id=new_id(), campaign_id=camp.id, name="Treatment", reward_template_id=tpl.id, position=1
    )
    session.add_all([control, treatment])
    await session.flush()
    return camp, treatment


async def reward(
    session: AsyncSession,
    user: User,
    camp: Campaign,
    tpl: RewardTemplate,
    variant: CampaignVariant,
    **overrides: Any,
) -> Reward:
    values = reward_values(camp, tpl, variant.id, now=overrides.pop("now", utcnow()))
    values.update(overrides)
    rwd = Reward(id=new_id(), user_id=user.id, **values)
    session.add(rwd)
    await session.flush()
    return rwd
