"""SQL for campaigns and their variants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol, cast

from sqlalchemy import ColumnElement, Table, bindparam, false, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import campaign_state_clause
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Campaign, CampaignVariant


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


class CampaignFields(Protocol):
    """What a campaign's answer reads: a mapped ``Campaign`` or a ``CampaignRow``."""

    @property
    def id(self) -> str: ...
    @property
    def merchant_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def objective(self) -> str | None: ...
    @property
    def fine_print(self) -> str | None: ...
    @property
    def start_at(self) -> datetime: ...
    @property
    def end_at(self) -> datetime: ...
    @property
    def redeemable_from(self) -> datetime: ...
    @property
    def redeemable_to(self) -> datetime: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


class VariantFields(Protocol):
    """What a variant's answer reads: a mapped ``CampaignVariant`` or a ``VariantRow``."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def reward_template_id(self) -> str | None: ...


class CampaignRow(NamedTuple):
    id: str
    merchant_id: str
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
    name: str
    reward_template_id: str | None


_CAMPAIGNS = cast(Table, Campaign.__table__)
_VARIANTS = cast(Table, CampaignVariant.__table__)
_CAMPAIGN_COLUMNS = len(CampaignRow._fields)
# Built once (a hot read): the campaign and its variants in one round trip, over the tables
# (Core): the session hands it to the connection without the ORM's per-execution work and
# entity loading (identity map, instance state), measured in docs/PERFORMANCE.md (issue 17).
_CAMPAIGN_WITH_VARIANTS = (
    select(
        *(_CAMPAIGNS.c[name] for name in CampaignRow._fields),
        *(_VARIANTS.c[name] for name in VariantRow._fields),
    )
    .select_from(_CAMPAIGNS.outerjoin(_VARIANTS, _VARIANTS.c.campaign_id == _CAMPAIGNS.c.id))
    .where(
        _CAMPAIGNS.c.id == bindparam("campaign_id"),
        MerchantScope.bound(_CAMPAIGNS.c.merchant_id),
    )
    .order_by(_VARIANTS.c.position)
)


async def get_campaign(
    session: AsyncSession, scope: MerchantScope, campaign_id: str
) -> tuple[CampaignRow, list[VariantRow]] | None:
    """The campaign and its variants (position order)."""
    params = {"campaign_id": campaign_id, **scope.params()}
    rows = (await session.execute(_CAMPAIGN_WITH_VARIANTS, params)).all()
    if not rows:
        return None
    at = _CAMPAIGN_COLUMNS
    campaign = CampaignRow._make(rows[0][:at])
    return campaign, [VariantRow._make(row[at:]) for row in rows if row[at] is not None]


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


async def find_by_name(session: AsyncSession, scope: MerchantScope, name: str) -> Campaign | None:
    return await session.scalar(
        select(Campaign)
        .where(scope.clause(Campaign.merchant_id), Campaign.name == name)
        .order_by(Campaign.created_at, Campaign.id)
        .limit(1)
    )


# Built once: Core INSERTs, no unit of work (a hot write, issue 17). The service built every
# column's value already, so nothing is left for the ORM to compute or fetch back.
_INSERT_CAMPAIGN = insert(_CAMPAIGNS)
_INSERT_VARIANTS = insert(_VARIANTS)


def _row(entity: Any, table: Table) -> dict[str, Any]:
    return {column.key: getattr(entity, column.key) for column in table.columns}


async def add_campaign(
    session: AsyncSession, campaign: Campaign, variants: Sequence[CampaignVariant]
) -> None:
    """Insert the campaign and its variants (two statements; the variants as one batch).

    The entities stay plain objects outside the session: the caller renders them."""
    await session.execute(_INSERT_CAMPAIGN, _row(campaign, _CAMPAIGNS))
    if variants:
        await session.execute(_INSERT_VARIANTS, [_row(v, _VARIANTS) for v in variants])
