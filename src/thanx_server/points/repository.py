"""SQL for points experiences, products, balances and the exchange."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list
from thanx_server.models import Membership, PointsExperience, PointsProduct, RewardTemplate


async def experiences(session: AsyncSession, scope: MerchantScope) -> Sequence[PointsExperience]:
    return (
        await session.scalars(
            select(PointsExperience)
            .where(scope.clause(PointsExperience.merchant_id))
            .order_by(PointsExperience.created_at.desc(), PointsExperience.id.desc())
        )
    ).all()


async def experience(
    session: AsyncSession, scope: MerchantScope, experience_id: str
) -> PointsExperience | None:
    return await session.scalar(
        select(PointsExperience).where(
            PointsExperience.id == experience_id, scope.clause(PointsExperience.merchant_id)
        )
    )


async def experience_of_merchant(
    session: AsyncSession, scope: MerchantScope
) -> PointsExperience | None:
    return await session.scalar(
        select(PointsExperience).where(scope.clause(PointsExperience.merchant_id))
    )


async def products(
    session: AsyncSession, scope: MerchantScope, *, experience_id: str | None, page: Page
) -> PageResult[tuple[PointsProduct, RewardTemplate]]:
    """A page of products, newest first, each with its template (one query for the page, one
    for the page's templates)."""
    stmt = (
        select(PointsProduct)
        .where(scope.clause(PointsProduct.merchant_id))
        .order_by(PointsProduct.created_at.desc(), PointsProduct.id.desc())
    )
    if experience_id is not None:
        stmt = stmt.where(PointsProduct.points_experience_id == experience_id)
    result = await paginate(session, stmt, page)
    found: Sequence[PointsProduct] = result.items
    ids = sorted({p.reward_template_id for p in found})
    templates = {
        t.id: t
        for t in (
            await session.scalars(select(RewardTemplate).where(in_list(RewardTemplate.id, ids)))
        ).all()
    }
    items = [(p, templates[p.reward_template_id]) for p in found]
    return PageResult(items=items, total=result.total, page=page)


async def product(
    session: AsyncSession, scope: MerchantScope, product_id: str
) -> tuple[PointsProduct, RewardTemplate] | None:
    row = (
        await session.execute(
            select(PointsProduct, RewardTemplate)
            .join(RewardTemplate, RewardTemplate.id == PointsProduct.reward_template_id)
            .where(PointsProduct.id == product_id, scope.clause(PointsProduct.merchant_id))
        )
    ).first()
    return (row[0], row[1]) if row else None


async def membership(
    session: AsyncSession, scope: MerchantScope, user_id: str
) -> Membership | None:
    return await session.scalar(
        select(Membership).where(
            Membership.user_id == user_id, scope.clause(Membership.merchant_id)
        )
    )


async def deduct(
    session: AsyncSession, scope: MerchantScope, *, user_id: str, cost: Decimal
) -> Decimal | None:
    """Take ``cost`` points from the member's balance if it holds them, in one guarded UPDATE;
    the balance after, or None when it did not hold them (or is no member).

    The guard is evaluated on the row as locked by the UPDATE (PostgreSQL re-reads it after a
    concurrent writer commits; SQLite writers are serialised), so concurrent exchanges can never
    take a balance below zero.
    """
    return await session.scalar(
        update(Membership)
        .where(
            Membership.user_id == user_id,
            scope.clause(Membership.merchant_id),
            Membership.points_balance >= cost,
        )
        .values(points_balance=Membership.points_balance - cost)
        .returning(Membership.points_balance)
        .execution_options(synchronize_session=False)
    )


def add(session: AsyncSession, row: PointsExperience | PointsProduct) -> None:
    session.add(row)
