"""SQL for reward templates."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.bulk import insert_rows
from thanx_server.kit.clock import business_now
from thanx_server.kit.ids import new_ids
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list, in_list_param
from thanx_server.models import CouponCode, Merchant, RewardTemplate


async def list_published(
    session: AsyncSession, scope: MerchantScope, page: Page
) -> PageResult[RewardTemplate]:
    stmt = (
        select(RewardTemplate)
        .where(scope.clause(RewardTemplate.merchant_id), RewardTemplate.published.is_(True))
        .order_by(RewardTemplate.created_at.desc(), RewardTemplate.id.desc())
    )
    return await paginate(session, stmt, page)


async def get_published(
    session: AsyncSession, scope: MerchantScope, template_id: str
) -> RewardTemplate | None:
    return await session.scalar(
        select(RewardTemplate).where(
            RewardTemplate.id == template_id,
            scope.clause(RewardTemplate.merchant_id),
            RewardTemplate.published.is_(True),
        )
    )


async def published_ids(
    session: AsyncSession, scope: MerchantScope, template_ids: Sequence[str]
) -> set[str]:
    """Which of ``template_ids`` are published templates of the merchants of ``scope``."""
    if not template_ids:
        return set()
    params = {"template_ids": sorted(set(template_ids)), **scope.params()}
    return set((await session.scalars(_PUBLISHED_AMONG, params)).all())


_PUBLISHED_AMONG_CLAUSE = and_(
    in_list_param(RewardTemplate.id, "template_ids"),
    MerchantScope.bound(RewardTemplate.merchant_id),
    RewardTemplate.published.is_(True),
)
# Built once: every campaign created checks its templates.
_PUBLISHED_AMONG = select(RewardTemplate.id).where(_PUBLISHED_AMONG_CLAUSE)
# The same check with the merchant's time zone, in one round trip (a hot write, issue 17): one
# row per published template found, or one row with no template id when none is.
_ZONE_AND_PUBLISHED = (
    select(Merchant.time_zone, RewardTemplate.id)
    .select_from(Merchant)
    .outerjoin(
        RewardTemplate,
        and_(RewardTemplate.merchant_id == Merchant.id, _PUBLISHED_AMONG_CLAUSE),
    )
    .where(MerchantScope.bound(Merchant.id))
)


async def zone_and_published_ids(
    session: AsyncSession, scope: MerchantScope, template_ids: Sequence[str]
) -> tuple[str, set[str]] | None:
    """For a single-merchant ``scope``: the merchant's time zone and which of ``template_ids``
    are its published templates (as ``published_ids``); None when the merchant does not
    exist."""
    params = {"template_ids": sorted(set(template_ids)), **scope.params()}
    rows = (await session.execute(_ZONE_AND_PUBLISHED, params)).all()
    if not rows:
        return None
    return rows[0][0], {row[1] for row in rows if row[1] is not None}


async def find_by_name(
    session: AsyncSession, scope: MerchantScope, name: str
) -> RewardTemplate | None:
    return await session.scalar(
        select(RewardTemplate)
        .where(scope.clause(RewardTemplate.merchant_id), RewardTemplate.name == name)
        .order_by(RewardTemplate.created_at, RewardTemplate.id)
        .limit(1)
    )


async def all_templates(session: AsyncSession, scope: MerchantScope) -> Sequence[RewardTemplate]:
    stmt = (
        select(RewardTemplate)
        .where(scope.clause(RewardTemplate.merchant_id))
        .order_by(RewardTemplate.created_at, RewardTemplate.id)
    )
    return (await session.scalars(stmt)).all()


def add(session: AsyncSession, template: RewardTemplate) -> None:
    session.add(template)


async def get_any(session: AsyncSession, template_id: str) -> RewardTemplate | None:
    """Any template by id, draft or published (operator side)."""
    return await session.get(RewardTemplate, template_id)


async def add_coupon_codes(
    session: AsyncSession, template: RewardTemplate, codes: Sequence[str]
) -> int:
    """Insert the codes not yet in the template's pool: one query for those present, one INSERT."""
    present = set(
        (
            await session.scalars(
                select(CouponCode.code).where(
                    CouponCode.template_id == template.id, in_list(CouponCode.code, codes)
                )
            )
        ).all()
    )
    fresh = [c for c in codes if c not in present]
    if not fresh:
        return 0
    ids = new_ids(len(fresh))
    await insert_rows(
        session,
        CouponCode.__table__,  # type: ignore[arg-type]
        shared={"merchant_id": template.merchant_id, "template_id": template.id,
                "created_at": business_now()},
        columns=["id", "code"],
        rows=list(zip(ids, fresh, strict=True)),
    )  # fmt: skip
    return len(fresh)
