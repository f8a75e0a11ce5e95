"""Rules for purchases a partner reports (reference B.7.1).

A purchase is recorded for a member of the merchant (at one of its locations, when given), earns
the points experience's ``conversion`` points per currency unit (one without an experience; to
the cent, in ``Decimal``), moves the member's tier (domain/loyalty.py), and opens a feedback
opportunity that expires ``feedback_window`` after ``purchased_at``. Everything happens in the
request's transaction, so the answer (201) means it is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.domain.amounts import BALANCE_MAX
from thanx_server.feedback import service as feedback_service
from thanx_server.idempotency import service as idempotency
from thanx_server.idempotency.service import StoredResponse
from thanx_server.kit import clock
from thanx_server.kit.errors import InvalidState, NotFound, ValidationFailed
from thanx_server.kit.ids import new_id
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Feedback, Purchase
from thanx_server.purchase import repository
from thanx_server.purchase.schemas import PurchaseEnvelope, PurchaseFields, PurchaseOut
from thanx_server.user import repository as user_repository
from thanx_server.webhook import events, outbox
from thanx_server.webhook.events import EventType

POINTS_PER_UNIT = Decimal("1")
CENT = Decimal("0.01")
# Clocks differ; a purchase a little in the future is accepted, one far ahead is a mistake.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RecordedPurchase:
    purchase: Purchase
    feedback: Feedback


def points_for(amount: Decimal, conversion: Decimal = POINTS_PER_UNIT) -> Decimal:
    """Points a purchase earns: ``conversion`` points per currency unit, rounded down to 0.01."""
    return (amount * conversion).quantize(CENT, rounding=ROUND_DOWN)


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
    """Record the purchase of a member of the scope's one merchant.

    Six statements (issue 17): one read of everything the purchase needs, the three inserts
    (purchase, feedback, webhook event), then the two updates of the member's rows. Those rows
    are what concurrent purchases of one member contend for: written last, each transaction
    holds their locks only for the two updates and the commit (PostgreSQL), not for the inserts
    as well. A failed balance guard raises after the inserts; the caller's transaction (the
    request's, or the idempotency key's savepoint) rolls them back with it.
    """
    (merchant_id,) = scope.merchant_ids
    now = clock.business_now()
    if purchased_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed("purchase.purchased_at: is in the future")
    found = await repository.context(session, scope, user_id=user_id, location_id=location_id)
    if found is None:
        raise NotFound("purchase.user_id: no such member of this merchant")
    if location_id is not None and found.location is None:
        raise NotFound("purchase.location_id: no such location of this merchant")
    points = points_for(amount, found.conversion or POINTS_PER_UNIT)
    purchase = Purchase(
        id=new_id(),
        merchant_id=merchant_id,
        user_id=user_id,
        location_id=location_id,
        card_id=card_id,
        amount=amount,
        points_earned=points,
        products=list(products),
        purchased_at=purchased_at,
        created_at=now,
    )
    await repository.insert_one(session, purchase)
    feedback = await feedback_service.open_for_purchase(session, purchase, window=feedback_window)
    await _purchase_event(session, purchase, found, now=now, delay=webhook_delay)
    # The member's rows, last (see above); past the balance bound the guard changes nothing.
    if not await repository.add_points(
        session, scope, user_id=user_id, points=points, balance_max=BALANCE_MAX
    ):
        raise InvalidState(
            f"purchase.amount: the member's points would pass the maximum {BALANCE_MAX}"
        )
    await user_repository.touch_users(session, [user_id], at=now)
    return RecordedPurchase(purchase=purchase, feedback=feedback)


async def create_purchase(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    data: PurchaseFields,
    idempotency_key: str | None,
    path: str,
    idempotency_ttl: timedelta,
    feedback_window: timedelta,
    webhook_delay: timedelta = timedelta(minutes=10),
) -> StoredResponse:
    """POST /purchases: the 201, or with ``X-Idempotency-Key`` the replay of the first answer.

    As for issuance (CONTRACT row 9): the purchase, its points and its feedback record are written
    in the savepoint that stores the key, so a retried purchase never adds points twice, even
    when the retry races the original.
    """
    scope = principal.merchants(principal.merchant(data.merchant_id))

    async def perform() -> StoredResponse:
        recorded = await record_purchase(
            session,
            scope,
            user_id=data.user_id,
            amount=data.amount,
            purchased_at=data.purchased_at,
            location_id=data.location_id,
            card_id=data.card_id,
            products=data.products,
            feedback_window=feedback_window,
            webhook_delay=webhook_delay,
        )
        envelope = PurchaseEnvelope(purchase=PurchaseOut.from_recorded(recorded))
        return StoredResponse(201, envelope.model_dump(mode="json"))

    return await idempotency.once_per_key(
        session,
        credential_id=principal.credential_id,
        key=idempotency_key,
        path=path,
        body={"purchase": data.model_dump(mode="json")},
        ttl=idempotency_ttl,
        perform=perform,
    )


async def _purchase_event(
    session: AsyncSession,
    purchase: Purchase,
    found: repository.PurchaseContext,
    *,
    now: datetime,
    delay: timedelta,
) -> None:
    """The purchase webhook (D.6), in the purchase's transaction, due ``delay`` after it was
    recorded (Thanx: 10 minutes) on the business clock."""
    await outbox.emit_one(
        session,
        merchant_id=purchase.merchant_id,
        type=EventType.PURCHASE,
        subject_id=purchase.id,
        body=event_body(purchase, found),
        now=now,
        deliver_after=now + delay,
    )


def event_body(purchase: Purchase, found: repository.PurchaseContext) -> str:
    """The purchase webhook's body (also what the sandbox's trigger sends again)."""
    return events.purchase(
        purchase_id=purchase.id,
        amount=purchase.amount,
        purchased_at=purchase.purchased_at,
        user=found.user,
        merchant=found.merchant,
        location=found.location,
        products=list(purchase.products),
    )


async def find_by_card(session: AsyncSession, *, merchant_id: str, card_id: str) -> Purchase | None:
    """A merchant's purchase paid with ``card_id`` (how demo data finds its own purchases)."""
    return await repository.find_by_card(session, MerchantScope((merchant_id,)), card_id)
