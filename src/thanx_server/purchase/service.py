"""Rules for purchases a partner reports (reference B.7.1).

A purchase is recorded for a member of the merchant (at one of its locations, when given), earns
one point per currency unit (to the cent, in ``Decimal``), and opens a feedback opportunity that
expires ``feedback_window`` after ``purchased_at``. Everything happens in the request's
transaction, so the answer (201) means it is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.feedback import service as feedback_service
from thanx_server.kit.errors import NotFound, ValidationFailed
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.models import Feedback, Purchase
from thanx_server.purchase import repository
from thanx_server.user import repository as user_repository
from thanx_server.webhook import clock, events, outbox
from thanx_server.webhook.events import EventType

POINTS_PER_UNIT = Decimal("1")
CENT = Decimal("0.01")
# Clocks differ; a purchase a little in the future is accepted, one far ahead is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RecordedPurchase:
    purchase: Purchase
    feedback: Feedback


def points_for(amount: Decimal) -> Decimal:
    return (amount * POINTS_PER_UNIT).quantize(CENT, rounding=ROUND_DOWN)


async def record_purchase(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    user_id: str,
    amount: Decimal,
    purchased_at: datetime,
    location_id: str | None,
    card_id: str | None,
    products: Sequence[str],
    feedback_window: timedelta,
    webhook_delay: timedelta = timedelta(minutes=10),
) -> RecordedPurchase:
    """Record the purchase of a member of the scope's one merchant."""
    (merchant_id,) = scope.merchant_ids
    if purchased_at > utcnow() + FUTURE_TOLERANCE:
        raise ValidationFailed("purchase.purchased_at: is in the future")
    if not await user_repository.members_among(session, scope, [user_id]):
        raise NotFound("purchase.user_id: no such member of this merchant")
    if location_id is not None and not await repository.location_exists(
        session, scope, location_id
    ):
        raise NotFound("purchase.location_id: no such location of this merchant")
    points = points_for(amount)
    purchase = Purchase(
        merchant_id=merchant_id,
        user_id=user_id,
        location_id=location_id,
        card_id=card_id,
        amount=amount,
        points_earned=points,
        products=list(products),
        purchased_at=purchased_at,
    )
    repository.add(session, purchase)
    await session.flush()
    await repository.add_points(session, scope, user_id=user_id, points=points)
    feedback = feedback_service.open_for_purchase(session, purchase, window=feedback_window)
    await session.flush()
    await _purchase_event(session, purchase, delay=webhook_delay)
    return RecordedPurchase(purchase=purchase, feedback=feedback)


async def _purchase_event(session: AsyncSession, purchase: Purchase, *, delay: timedelta) -> None:
    """The purchase webhook (D.6), in the purchase's transaction, due ``delay`` after it was
    recorded (Thanx: 10 minutes) on the business clock."""
    user, merchant, location = await repository.event_context(session, purchase)
    now = clock.business_now()
    await outbox.emit_one(
        session,
        merchant_id=purchase.merchant_id,
        type=EventType.PURCHASE,
        subject_id=purchase.id,
        body=events.purchase(
            purchase_id=purchase.id,
            amount=purchase.amount,
            purchased_at=purchase.purchased_at,
            user=user,
            merchant=merchant,
            location=location,
            products=list(purchase.products),
        ),
        now=now,
        deliver_after=now + delay,
    )


async def find_by_card(session: AsyncSession, *, merchant_id: str, card_id: str) -> Purchase | None:
    """A merchant's purchase paid with ``card_id`` (how demo data finds its own purchases)."""
    return await repository.find_by_card(session, MerchantScope((merchant_id,)), card_id)
