"""Demo step for subscribers, tags, purchases and feedback (one record in each feedback state).

Idempotent like every step: subscribers are found by (merchant, email), tags by (member, key),
purchases by their demo card id (``demo-<n>``); only what is missing is created.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.demo.context import DemoContext
from thanx_server.domain.states import FeedbackState
from thanx_server.feedback import service as feedback_service
from thanx_server.kit.clock import business_now
from thanx_server.kit.scoping import MerchantScope
from thanx_server.merchant import service as merchant_service
from thanx_server.purchase import service as purchase_service
from thanx_server.subscriber import service as subscriber_service
from thanx_server.subscriber.schemas import SubscriberBirthDateIn, SubscriberIn
from thanx_server.tag import service as tag_service
from thanx_server.user import service as user_service

# The server's default THANX_FEEDBACK_WINDOW; demo data does not depend on the configuration.
DEMO_FEEDBACK_WINDOW = timedelta(days=14)

SUBSCRIBERS = (
    # merchant, email, first, last, birthday (month, day), zip
    ("pizzatown", "casey.nguyen@example.com", "Casey", "Nguyen", (3, 21), "94103"),
    ("pizzatown", "drew.lopez@example.com", "Drew", None, None, None),
    ("beanthere", "pat.murphy@example.com", "Pat", "Murphy", (11, 2), "10011"),
)
TAGS = (
    # merchant, member emails, key, values
    ("pizzatown", ("jane.smith@example.com", "ravi.patel@example.com"), "allergens", ("gluten",)),
    ("pizzatown", ("alex.kim@example.com",), "thanx-demo-seating", ("patio", "window")),
    ("beanthere", ("jane.smith@example.com",), "favorite-drink", ("oat latte",)),
)
PURCHASES = (
    # card id, merchant, member email, amount, days ago, feedback state to reach
    ("demo-1", "pizzatown", "jane.smith@example.com", "24.50", 1, FeedbackState.UNVIEWED),
    ("demo-2", "pizzatown", "ravi.patel@example.com", "13.45", 2, FeedbackState.VIEWED),
    ("demo-3", "pizzatown", "maria.garcia@example.com", "8.00", 30, FeedbackState.EXPIRED),
    ("demo-4", "pizzatown", "alex.kim@example.com", "31.20", 3, FeedbackState.RATED),
    ("demo-5", "beanthere", "jane.smith@example.com", "6.75", 2, FeedbackState.REVIEWED),
    ("demo-6", "beanthere", "sam.jones@example.com", "4.25", 4, FeedbackState.RESPONDED),
)


async def _subscribers(session: AsyncSession, ctx: DemoContext) -> None:
    for handle, email, first, last, birthday, zip_code in SUBSCRIBERS:
        merchant_id = ctx.merchants[handle].id
        if await subscriber_service.find(session, merchant_id=merchant_id, email=email):
            continue
        await subscriber_service.record(
            session,
            merchant_id=merchant_id,
            subscriber=SubscriberIn(
                email=email,
                first_name=first,
                last_name=last,
                birth_date=SubscriberBirthDateIn(month=birthday[0], day=birthday[1])
                if birthday
                else None,
                zip_code=zip_code,
            ),
        )
        ctx.created += 1


async def _member_ids(session: AsyncSession, merchant_id: str) -> dict[str | None, str]:
    return {u.email: u.id for u, _ in await user_service.list_members(session, merchant_id)}


async def _tags(session: AsyncSession, ctx: DemoContext) -> None:
    for handle, emails, key, values in TAGS:
        merchant_id = ctx.merchants[handle].id
        members = await _member_ids(session, merchant_id)
        if await tag_service.tag_members(
            session,
            merchant_id=merchant_id,
            user_ids=[members[email] for email in emails],
            key=key,
            values=values,
        ):
            ctx.created += 1


async def _purchases(session: AsyncSession, ctx: DemoContext) -> None:
    now = business_now()
    for card_id, handle, email, amount, days_ago, state in PURCHASES:
        merchant_id = ctx.merchants[handle].id
        if await purchase_service.find_by_card(session, merchant_id=merchant_id, card_id=card_id):
            continue
        members = await _member_ids(session, merchant_id)
        locations = await merchant_service.all_locations(session, merchant_id)
        scope = MerchantScope((merchant_id,))
        recorded = await purchase_service.record_purchase(
            session,
            scope,
            user_id=members[email],
            amount=Decimal(amount),
            purchased_at=now - timedelta(days=days_ago),
            location_id=locations[0].id if locations else None,
            card_id=card_id,
            products=["Demo item"],
            feedback_window=DEMO_FEEDBACK_WINDOW,
        )
        ctx.created += 1
        await _play_feedback(session, scope, recorded.feedback.id, state)


async def _play_feedback(
    session: AsyncSession, scope: MerchantScope, feedback_id: str, state: FeedbackState
) -> None:
    """Move a fresh record to ``state`` the way a customer and the merchant would."""
    steps = (
        FeedbackState.VIEWED,
        FeedbackState.RATED,
        FeedbackState.REVIEWED,
        FeedbackState.RESPONDED,
    )
    if state not in steps:
        return  # unviewed, or expired by its purchase date
    reached = steps[: steps.index(state) + 1]
    if FeedbackState.VIEWED in reached:
        await feedback_service.customer_view(session, scope, feedback_id=feedback_id, sandbox=True)
    if FeedbackState.RATED in reached:
        await feedback_service.customer_rate(
            session, scope, feedback_id=feedback_id, rating=9, sandbox=True
        )
    if FeedbackState.REVIEWED in reached:
        await feedback_service.customer_review(
            session, scope, feedback_id=feedback_id, review="Lovely staff.", sandbox=True
        )
    if FeedbackState.RESPONDED in reached:
        await feedback_service.respond_in_scope(
            session, scope, feedback_id=feedback_id, response="Thank you, see you soon!"
        )


async def engagement_step(session: AsyncSession, ctx: DemoContext) -> None:
    await _subscribers(session, ctx)
    await _tags(session, ctx)
    await _purchases(session, ctx)
    ctx.hints.append(
        ("members with loyalty", "'{base}/partner/users?include_loyalty_attributes=true'")
    )
    ctx.hints.append(("rated feedback to answer", "-g '{base}/partner/feedbacks?states[]=rated'"))


__all__ = ["engagement_step"]
