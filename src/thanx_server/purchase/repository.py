"""SQL for purchases."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Table, and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.loyalty import tier_after
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import (
    Location,
    Membership,
    Merchant,
    PointsExperience,
    Purchase,
    User,
)
from thanx_server.user.repository import MEMBER_OF_SCOPE


@dataclass(frozen=True, slots=True)
class EventUser:
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None


@dataclass(frozen=True, slots=True)
class EventMerchant:
    id: str
    name: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class EventLocation:
    id: str
    name: str | None
    street: str | None
    city: str | None
    state: str | None
    zip: str | None


@dataclass(frozen=True, slots=True)
class PurchaseContext:
    """What a purchase reads before it writes: the member and merchant its webhook names, the
    merchant's points per currency unit (None: no points experience) and the location (None:
    none asked for, or not one of the merchant's)."""

    user: EventUser
    merchant: EventMerchant
    conversion: Decimal | None
    location: EventLocation | None


# Built once (a hot write, issue 17): no statement construction per purchase, the member, the
# scope's one merchant and the location given at execution.
_CONTEXT = (
    select(
        User.id,
        User.email,
        User.first_name,
        User.last_name,
        Merchant.id,
        Merchant.name,
        Merchant.time_zone,
        PointsExperience.conversion,
        Location.id,
        Location.name,
        Location.street,
        Location.city,
        Location.state,
        Location.zip,
    )
    .select_from(User)
    .join(Merchant, MerchantScope.bound(Merchant.id))
    .outerjoin(PointsExperience, PointsExperience.merchant_id == Merchant.id)
    .outerjoin(
        Location,
        and_(Location.id == bindparam("location_id"), Location.merchant_id == Merchant.id),
    )
    .where(User.id == bindparam("user_id"), MEMBER_OF_SCOPE)
)


async def context(
    session: AsyncSession, scope: MerchantScope, *, user_id: str, location_id: str | None
) -> PurchaseContext | None:
    """The purchase's context at the scope's one merchant, in one statement; None when the user
    is no member of it."""
    params = {"user_id": user_id, "location_id": location_id, **scope.params()}
    row = (await session.execute(_CONTEXT, params)).first()
    if row is None:
        return None
    (
        user_id_,
        email,
        first_name,
        last_name,
        merchant_id,
        merchant_name,
        time_zone,
        conversion,
        location_id_,
        location_name,
        street,
        city,
        state,
        zip_code,
    ) = row
    return PurchaseContext(
        user=EventUser(user_id_, email, first_name, last_name),
        merchant=EventMerchant(merchant_id, merchant_name, time_zone),
        conversion=conversion,
        location=(
            EventLocation(location_id_, location_name, street, city, state, zip_code)
            if location_id_ is not None
            else None
        ),
    )


_POINTS = bindparam("points", type_=Membership.__table__.c.points_balance.type)
# Past this the new balance or lifetime total would pass the bound (both columns have the same
# precision): the bound minus the points, computed by the caller.
_LIMIT = bindparam("limit", type_=Membership.__table__.c.points_balance.type)
_ADD_POINTS = (
    update(Membership)
    .where(
        Membership.user_id == bindparam("member_id"),
        MerchantScope.bound(Membership.merchant_id),
        Membership.points_balance <= _LIMIT,
        Membership.points_earned <= _LIMIT,
    )
    .values(
        points_balance=Membership.points_balance + _POINTS,
        points_earned=Membership.points_earned + _POINTS,
        # SET expressions read the row as it was: the tier follows the new lifetime total.
        tier=tier_after(Membership.points_earned + _POINTS, Membership.tier),
    )
    .execution_options(synchronize_session=False)
)


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
    ``balance_max`` or the user is no member."""
    params = {
        "member_id": user_id,
        "points": points,
        "limit": balance_max - points,
        **scope.params(),
    }
    result = await session.execute(_ADD_POINTS, params)
    return bool(getattr(result, "rowcount", 0))


async def find_by_card(
    session: AsyncSession, scope: MerchantScope, card_id: str
) -> Purchase | None:
    return await session.scalar(
        select(Purchase).where(scope.clause(Purchase.merchant_id), Purchase.card_id == card_id)
    )


_PURCHASES: Table = Purchase.__table__  # type: ignore[assignment]
# Built once: a Core INSERT, no unit of work (a hot write, issue 17). The service gives every
# column's value, so nothing is left for the ORM to compute or fetch back.
_INSERT = insert(_PURCHASES)


async def insert_one(session: AsyncSession, purchase: Purchase) -> None:
    """Insert ``purchase`` (every column set); it stays a plain object outside the session."""
    await session.execute(_INSERT, {c.key: getattr(purchase, c.key) for c in _PURCHASES.columns})
