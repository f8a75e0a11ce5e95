"""SQL for purchases."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.loyalty import tier_after
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Location, Membership, Merchant, PointsExperience, Purchase, User


async def location_exists(session: AsyncSession, scope: MerchantScope, location_id: str) -> bool:
    found = await session.scalar(
        select(Location.id).where(Location.id == location_id, scope.clause(Location.merchant_id))
    )
    return found is not None


async def add_points(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    user_id: str,
    points: Decimal,
    balance_max: Decimal,
) -> bool:
    """Add to the balance and the lifetime total in the database (``balance = balance +
    points``), and move the tier: concurrent purchases of one member never lose an increment.
    Guarded: nothing changes (False) when the new balance or lifetime total would pass
    ``balance_max`` (both columns have the same precision) or the user is no member."""
    result = await session.execute(
        update(Membership)
        .where(
            Membership.user_id == user_id,
            scope.clause(Membership.merchant_id),
            Membership.points_balance <= balance_max - points,
            Membership.points_earned <= balance_max - points,
        )
        .values(
            points_balance=Membership.points_balance + points,
            points_earned=Membership.points_earned + points,
            # SET expressions read the row as it was: the tier follows the new lifetime total.
            tier=tier_after(Membership.points_earned + points, Membership.tier),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def conversion(session: AsyncSession, scope: MerchantScope) -> Decimal | None:
    """Points per currency unit of the merchant's points experience (None: it has none)."""
    return await session.scalar(
        select(PointsExperience.conversion).where(scope.clause(PointsExperience.merchant_id))
    )


async def find_by_card(
    session: AsyncSession, scope: MerchantScope, card_id: str
) -> Purchase | None:
    return await session.scalar(
        select(Purchase).where(scope.clause(Purchase.merchant_id), Purchase.card_id == card_id)
    )


def add(session: AsyncSession, purchase: Purchase) -> None:
    session.add(purchase)


async def event_context(
    session: AsyncSession, purchase: Purchase
) -> tuple[User, Merchant, Location | None]:
    """What the purchase webhook names: the member, the merchant and the location."""
    user = await session.get(User, purchase.user_id)
    merchant = await session.get(Merchant, purchase.merchant_id)
    location = await session.get(Location, purchase.location_id) if purchase.location_id else None
    assert user is not None
    assert merchant is not None
    return user, merchant, location
