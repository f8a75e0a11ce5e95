"""SQL for merchants and locations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.fastread import ReadQuery, Reads, select_row
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list_param
from thanx_server.models import Location, Merchant


class MerchantRow(NamedTuple):
    id: str
    name: str
    handle: str


_MERCHANTS = ReadQuery(
    MerchantRow,
    select_row(MerchantRow, Merchant)
    .where(in_list_param(Merchant.id, "merchant_ids"))
    .order_by(Merchant.name, Merchant.id),
)


class MerchantZone(NamedTuple):
    id: str
    time_zone: str


_MERCHANT_ZONE = ReadQuery(
    MerchantZone, select_row(MerchantZone, Merchant).where(Merchant.id == bindparam("merchant_id"))
)


async def read_merchant_zone(reads: Reads, merchant_id: str) -> MerchantZone | None:
    return await reads.one(_MERCHANT_ZONE, merchant_id=merchant_id)


async def list_merchants(reads: Reads, scope: MerchantScope) -> list[MerchantRow]:
    return await reads.all(_MERCHANTS, merchant_ids=scope.merchant_ids)


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


async def all_locations(session: AsyncSession, merchant_id: str | None) -> Sequence[Location]:
    stmt = select(Location).order_by(Location.created_at, Location.id)
    if merchant_id is not None:
        stmt = stmt.where(Location.merchant_id == merchant_id)
    return (await session.scalars(stmt)).all()


def add(session: AsyncSession, obj: Merchant | Location) -> None:
    session.add(obj)
