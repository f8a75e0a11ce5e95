"""SQL for users and memberships."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.models import Membership, User


async def find_by_email_or_phone(
    session: AsyncSession, *, email: str | None, phone: str | None
) -> Sequence[User]:
    conditions = []
    if email is not None:
        conditions.append(User.email == email)
    if phone is not None:
        conditions.append(User.phone == phone)
    if not conditions:
        return []
    return (await session.scalars(select(User).where(or_(*conditions)))).all()


async def get_membership(
    session: AsyncSession, user_id: str, merchant_id: str
) -> Membership | None:
    return await session.get(Membership, (user_id, merchant_id))


async def all_with_memberships(
    session: AsyncSession, merchant_id: str | None
) -> Sequence[tuple[User, Membership]]:
    stmt = (
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .order_by(User.created_at, User.id)
    )
    if merchant_id is not None:
        stmt = stmt.where(Membership.merchant_id == merchant_id)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]
