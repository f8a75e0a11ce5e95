"""Rules for marketing subscribers (reference B.3, CONTRACT row 15).

A subscriber is an email opted into one merchant's marketing; it is *not* a member and never
matches as a user. Every valid email is accepted (new or known: an upsert); the only refusal is
an invalid email. Optional fields sent for a known email overwrite the stored ones; fields left
out are kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.domain.errors import UserEmailInvalid
from thanx_server.domain.identifiers import require_email
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Subscriber
from thanx_server.subscriber import repository
from thanx_server.subscriber.schemas import SubscriberIn


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


async def subscribe(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    merchant_id: str,
    subscriber: SubscriberIn,
) -> str:
    """Record the subscriber at one of the credential's merchants; returns the normalised email."""
    return await record(session, merchant_id=principal.merchant(merchant_id), subscriber=subscriber)


async def record(session: AsyncSession, *, merchant_id: str, subscriber: SubscriberIn) -> str:
    """Record the subscriber (an upsert) and return its normalised email."""
    if not isinstance(subscriber.email, str):
        raise UserEmailInvalid("subscriber.email: an email address (a string) is required.")
    email = require_email(subscriber.email, "subscriber.email")
    fields: dict[str, Any] = {}
    for name in ("first_name", "last_name", "zip_code"):
        value = _clean(getattr(subscriber, name))
        if value is not None:
            fields[name] = value
    if subscriber.birth_date is not None:
        fields["birth_month"] = subscriber.birth_date.month
        fields["birth_day"] = subscriber.birth_date.day
        fields["birth_year"] = subscriber.birth_date.year
    await repository.upsert(session, merchant_id=merchant_id, email=email, fields=fields)
    return email


async def find(session: AsyncSession, *, merchant_id: str, email: str) -> Subscriber | None:
    return await repository.get(session, MerchantScope.one(merchant_id), email=email)
