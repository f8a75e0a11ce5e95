"""SQL for merchants and locations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Row, Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Location, Merchant

# Built once: hot reads (every metadata call; every campaign created).
_MERCHANTS_IN_SCOPE = (
    select(Merchant).where(MerchantScope.bound(Merchant.id)).order_by(Merchant.name, Merchant.id)
)
# The merchants list is every merchant of the credential, unpaginated (a hundred for a wide
# integration): it selects only the columns it shows, since building an ORM instance per row
# cost ~13 microseconds each (measured), more than the query; and it selects them from the table
# (Core), so the session runs it without the ORM's per-execution work (issue 17).
_MERCHANTS = cast(Table, Merchant.__table__)
_MERCHANT_LISTING = (
    select(_MERCHANTS.c.id, _MERCHANTS.c.name, _MERCHANTS.c.handle)
    .where(MerchantScope.bound(_MERCHANTS.c.id))
    .order_by(_MERCHANTS.c.name, _MERCHANTS.c.id)
)


async def list_merchants(
    session: AsyncSession, scope: MerchantScope
) -> Sequence[Row[str, str, str]]:
    """``(id, name, handle)`` of the merchants of ``scope``, by name."""
    return (await session.execute(_MERCHANT_LISTING, scope.params())).all()


async def get_merchant_in(session: AsyncSession, scope: MerchantScope) -> Merchant | None:
    """The one merchant of a single-merchant ``scope`` (None when it does not exist)."""
    return (await session.scalars(_MERCHANTS_IN_SCOPE, scope.params())).first()


async def list_locations(
    session: AsyncSession, scope: MerchantScope, page: Page
) -> PageResult[Location]:
    stmt = (
        select(Location)
        .where(scope.clause(Location.merchant_id))
        .order_by(Location.created_at.desc(), Location.id.desc())
    )
    return await paginate(session, stmt, page)


async def get_merchant_by_handle(session: AsyncSession, handle: str) -> Merchant | None:
    return await session.scalar(select(Merchant).where(Merchant.handle == handle))


async def get_merchant(session: AsyncSession, merchant_id: str) -> Merchant | None:
    return await session.get(Merchant, merchant_id)


async def all_merchants(session: AsyncSession) -> Sequence[Merchant]:
    return (await session.scalars(select(Merchant).order_by(Merchant.name, Merchant.id))).all()


async def all_locations(session: AsyncSession, scope: MerchantScope) -> Sequence[Location]:
    stmt = (
        select(Location)
        .where(scope.clause(Location.merchant_id))
        .order_by(Location.created_at, Location.id)
    )
    return (await session.scalars(stmt)).all()


def add(session: AsyncSession, obj: Merchant | Location) -> None:
    session.add(obj)
