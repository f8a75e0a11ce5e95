"""SQL for purchases."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Location, Membership, Merchant, Purchase, User


async def location_exists(session: AsyncSession, scope: MerchantScope, location_id: str) -> bool:
    found = await session.scalar(
        select(Location.id).where(Location.id == location_id, scope.clause(Location.merchant_id))
    )
    return found is not None


async def add_points(
    session: AsyncSession, scope: MerchantScope, *, user_id: str, points: Decimal
) -> None:
    """Add to the balance in the database (``balance = balance + points``): concurrent purchases
    of one member never lose an increment."""
    await session.execute(
        update(Membership)
        .where(Membership.user_id == user_id, scope.clause(Membership.merchant_id))
        .values(points_balance=Membership.points_balance + points)
        .execution_options(synchronize_session=False)
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
