"""SQL for campaigns and their variants."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, bindparam, false, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.fastread import ReadQuery, Reads, select_row
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list_param
from thanx_server.models import Campaign, CampaignVariant
from thanx_server.models.states import campaign_state_clause


class CampaignRow(NamedTuple):
    id: str
    merchant_id: str
    partner_id: str | None
    name: str
    objective: str | None
    fine_print: str | None
    start_at: datetime
    end_at: datetime
    redeemable_from: datetime
    redeemable_to: datetime
    time_zone: str
    created_at: datetime


class VariantRow(NamedTuple):
    id: str
    campaign_id: str
    name: str
    reward_template_id: str | None
    position: int


# A campaign joined with one of its variants (``variant_id`` None: it has none): the columns of
# CampaignRow, then the variant's.
_JOINED = (*CampaignRow._fields, "variant_id", "variant_name", "reward_template_id", "position")
_CampaignVariantRow = namedtuple("_CampaignVariantRow", _JOINED)  # type: ignore[misc]  # computed


_CAMPAIGN_WITH_VARIANTS: ReadQuery[Any] = ReadQuery(
    _CampaignVariantRow,
    select_row(CampaignRow, Campaign)
    .add_columns(
        CampaignVariant.id.label("variant_id"),
        CampaignVariant.name.label("variant_name"),
        CampaignVariant.reward_template_id,
        CampaignVariant.position,
    )
    .outerjoin(CampaignVariant, CampaignVariant.campaign_id == Campaign.id)
    .where(
        Campaign.id == bindparam("campaign_id"),
        in_list_param(Campaign.merchant_id, "merchant_ids"),
    )
    .order_by(CampaignVariant.position),
)


def _state_clause(state: str, now: datetime) -> ColumnElement[bool]:
    return campaign_state_clause(state, Campaign.start_at, Campaign.end_at, now)


async def list_partner_campaigns(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    states: Sequence[str],
    now: datetime,
    page: Page,
) -> PageResult[Campaign]:
    """Campaigns created through the Partner API, newest first, optionally by derived state."""
    stmt = select(Campaign).where(
        scope.clause(Campaign.merchant_id), Campaign.partner_id.is_not(None)
    )
    if states:
        stmt = stmt.where(or_(false(), *(_state_clause(s, now) for s in states)))
    stmt = stmt.order_by(Campaign.created_at.desc(), Campaign.id.desc())
    return await paginate(session, stmt, page)


async def read_campaign(
    reads: Reads, scope: MerchantScope, campaign_id: str
) -> tuple[CampaignRow, list[VariantRow]] | None:
    """The campaign and its variants (position order), in one round trip."""
    rows = await reads.all(
        _CAMPAIGN_WITH_VARIANTS, campaign_id=campaign_id, merchant_ids=scope.merchant_ids
    )
    if not rows:
        return None
    campaign = CampaignRow._make(rows[0][: len(CampaignRow._fields)])
    variants = [
        VariantRow(r.variant_id, r.id, r.variant_name, r.reward_template_id, r.position)
        for r in rows
        if r.variant_id is not None and r.variant_name is not None and r.position is not None
    ]
    return campaign, variants


async def variants_of(
    session: AsyncSession, campaign_ids: Sequence[str]
) -> dict[str, list[CampaignVariant]]:
    """Variants per campaign (in position order), for campaigns already scoped by the caller."""
    out: dict[str, list[CampaignVariant]] = {cid: [] for cid in campaign_ids}
    if not campaign_ids:
        return out
    rows = await session.scalars(
        select(CampaignVariant)
        .where(CampaignVariant.campaign_id.in_(list(campaign_ids)))
        .order_by(CampaignVariant.campaign_id, CampaignVariant.position)
    )
    for variant in rows:
        out[variant.campaign_id].append(variant)
    return out


async def find_by_name(session: AsyncSession, merchant_id: str, name: str) -> Campaign | None:
    return await session.scalar(
        select(Campaign)
        .where(Campaign.merchant_id == merchant_id, Campaign.name == name)
        .order_by(Campaign.created_at, Campaign.id)
        .limit(1)
    )


_INSERT_CAMPAIGN = insert(Campaign.__table__)  # type: ignore[arg-type]  # a Table at runtime
_INSERT_VARIANT = insert(CampaignVariant.__table__)  # type: ignore[arg-type]


async def insert_campaign(
    session: AsyncSession, campaign: CampaignRow, variants: Sequence[VariantRow]
) -> None:
    """The campaign and its variants: two constant Core INSERTs (compiled once, cached) with the
    values as parameters; no unit of work, no per-call compilation."""
    await session.execute(_INSERT_CAMPAIGN, campaign._asdict())
    if variants:
        await session.execute(_INSERT_VARIANT, [v._asdict() for v in variants])
