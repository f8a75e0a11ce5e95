"""Rules for users and their memberships (operator side; partner endpoints build on these)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.errors import BadRequest, NotFound, ValidationFailed
from thanx_server.kit.identifiers import require_email, require_phone
from thanx_server.merchant import repository as merchant_repository
from thanx_server.models import Membership, User
from thanx_server.user import repository

TIERS = ("bronze", "silver", "gold")


async def create_member(
    session: AsyncSession,
    *,
    merchant_id: str,
    email: str | None,
    phone: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    birth_date: date | None = None,
    zip_code: str | None = None,
    tier: str = "bronze",
    points_balance: Decimal = Decimal("0"),
) -> tuple[User, Membership]:
    """Create a user (or find the one with this email/phone) and enrol them at ``merchant_id``."""
    if email is None and phone is None:
        raise ValidationFailed("email: an email or a phone is required")
    if tier not in TIERS:
        raise ValidationFailed(f"tier: must be one of {', '.join(TIERS)}")
    if await merchant_repository.get_merchant(session, merchant_id) is None:
        raise NotFound(f"merchant_id: no merchant '{merchant_id}'")
    norm_email = require_email(email) if email is not None else None
    norm_phone = require_phone(phone) if phone is not None else None
    found = await repository.find_by_email_or_phone(session, email=norm_email, phone=norm_phone)
    if len(found) > 1:
        raise BadRequest("email and phone belong to two different users")
    if found:
        user = found[0]
        if norm_phone and user.phone not in (None, norm_phone):
            raise BadRequest("phone: the user with this email has another phone")
        if norm_email and user.email not in (None, norm_email):
            raise BadRequest("email: the user with this phone has another email")
    else:
        user = User(
            email=norm_email,
            phone=norm_phone,
            first_name=first_name,
            last_name=last_name,
            birth_date=birth_date,
            zip_code=zip_code,
        )
        session.add(user)
        await session.flush()
    membership = await repository.get_membership(session, user.id, merchant_id)
    if membership is None:
        membership = Membership(
            user_id=user.id, merchant_id=merchant_id, tier=tier, points_balance=points_balance
        )
        session.add(membership)
        await session.flush()
    return user, membership


async def list_members(
    session: AsyncSession, merchant_id: str | None
) -> Sequence[tuple[User, Membership]]:
    return await repository.all_with_memberships(session, merchant_id)
