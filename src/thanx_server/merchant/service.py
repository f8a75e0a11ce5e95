"""Rules for merchants and locations: what a partner may list, and how an operator creates them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.kit.errors import BadRequest, NotFound, ValidationFailed
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.merchant import repository
from thanx_server.models import Location, Merchant

HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


async def list_merchants(
    session: AsyncSession, principal: PartnerPrincipal
) -> Sequence[Row[str, str, str]]:
    return await repository.list_merchants(session, principal.merchants())


async def list_locations(
    session: AsyncSession, principal: PartnerPrincipal, *, merchant_id: str | None, page: Page
) -> PageResult[Location]:
    return await repository.list_locations(session, principal.merchants(merchant_id), page)


async def create_merchant(
    session: AsyncSession,
    *,
    name: str,
    handle: str,
    time_zone: str,
    olo_integrated: bool = False,
    fixed_id: str | None = None,
) -> Merchant:
    """``fixed_id``: an id chosen by the caller (sandbox fixtures), else one is drawn."""
    name = name.strip()
    if not name:
        raise ValidationFailed("name: must not be blank")
    if not HANDLE_RE.match(handle):
        raise ValidationFailed("handle: use lowercase letters, digits, '-' or '_'")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"time_zone: '{time_zone}' is not an IANA time zone") from None
    if await repository.get_merchant_by_handle(session, handle) is not None:
        raise BadRequest(f"handle: '{handle}' is already taken")
    merchant = Merchant(
        name=name, handle=handle, time_zone=time_zone, olo_integrated=olo_integrated
    )
    if fixed_id is not None:
        merchant.id = fixed_id
    repository.add(session, merchant)
    await session.flush()
    return merchant


async def create_location(
    session: AsyncSession,
    *,
    merchant_id: str,
    name: str | None = None,
    street: str | None = None,
    city: str | None = None,
    state: str | None = None,
    zip_code: str | None = None,
    phone: str | None = None,
    fixed_id: str | None = None,
) -> Location:
    if await repository.get_merchant(session, merchant_id) is None:
        raise NotFound(f"merchant_id: no merchant '{merchant_id}'")
    location = Location(
        merchant_id=merchant_id,
        name=name,
        street=street,
        city=city,
        state=state,
        zip=zip_code,
        phone=phone,
    )
    if fixed_id is not None:
        location.id = fixed_id
    repository.add(session, location)
    await session.flush()
    return location


async def all_merchants(session: AsyncSession) -> Sequence[Merchant]:
    return await repository.all_merchants(session)


async def all_locations(session: AsyncSession, merchant_id: str | None) -> Sequence[Location]:
    return await repository.all_locations(session, MerchantScope.operator(merchant_id))
