"""Rules for feedback records (reference B.6, CONTRACT row 16).

States: ``unviewed`` (opened by a purchase) -> ``viewed`` -> ``rated`` (0-10) -> ``reviewed``
(text) -> ``responded`` (the merchant's one reply). A record still ``unviewed``/``viewed`` at
``expires_at`` reads as ``expired`` (derived, never stored). Every step is a move of
``FEEDBACK_STATES`` (domain/states.py): the guarded UPDATE takes its source states from the table,
and a refusal names them.

* The merchant may answer a record the customer ``rated`` or ``reviewed`` (there is something to
  answer), once. ``unviewed``/``viewed``/``expired`` records and a second response are 422
  ``INVALID_STATE``.
* In a sandbox, the customer's side is played through ``view``/``rate``/``review``: ``view`` from
  ``unviewed``; ``rate`` from ``unviewed`` or ``viewed``; ``review`` from ``rated``; all only
  before ``expires_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.auth.service import PartnerPrincipal
from thanx_server.domain.states import FEEDBACK_STATES, FeedbackState
from thanx_server.feedback import repository
from thanx_server.feedback.repository import FeedbackRow
from thanx_server.kit.clock import business_now
from thanx_server.kit.errors import InvalidState, NotFound, ValidationFailed
from thanx_server.kit.ids import new_id
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Feedback, Purchase

STATES = FEEDBACK_STATES.states
MAX_TEXT = 2000
MIN_RATING, MAX_RATING = 0, 10


@dataclass(frozen=True, slots=True)
class FeedbackView:
    id: str
    user_id: str
    merchant_id: str
    location_id: str | None
    state: FeedbackState
    rating: int | None
    review: str | None
    response: str | None
    expires_at: datetime
    viewed_at: datetime | None
    rated_at: datetime | None
    reviewed_at: datetime | None
    responded_at: datetime | None
    created_at: datetime
    updated_at: datetime
    purchase_id: str
    purchased_at: datetime
    amount: Decimal


def _view(row: FeedbackRow) -> FeedbackView:
    f = row.feedback
    return FeedbackView(
        id=f.id,
        user_id=f.user_id,
        merchant_id=f.merchant_id,
        location_id=f.location_id,
        state=FeedbackState(row.state),
        rating=f.rating,
        review=f.review,
        response=f.response,
        expires_at=f.expires_at,
        viewed_at=f.viewed_at,
        rated_at=f.rated_at,
        reviewed_at=f.reviewed_at,
        responded_at=f.responded_at,
        created_at=f.created_at,
        updated_at=row.updated_at,
        purchase_id=f.purchase_id,
        purchased_at=row.purchased_at,
        amount=row.amount,
    )


def _clean_text(value: str, field: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationFailed(f"{field}: must not be blank")
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"{field}: at most {MAX_TEXT} characters")
    return value


async def open_for_purchase(
    session: AsyncSession, purchase: Purchase, *, window: timedelta
) -> Feedback:
    """The feedback opportunity a purchase opens: ``unviewed`` until ``purchased_at + window``
    (written at once: one INSERT, every column given)."""
    feedback = Feedback(
        id=new_id(),
        merchant_id=purchase.merchant_id,
        user_id=purchase.user_id,
        location_id=purchase.location_id,
        purchase_id=purchase.id,
        state=FEEDBACK_STATES.initial,
        rating=None,
        review=None,
        response=None,
        expires_at=purchase.purchased_at + window,
        viewed_at=None,
        rated_at=None,
        reviewed_at=None,
        responded_at=None,
        created_at=purchase.created_at,
        updated_at=purchase.created_at,
    )
    await repository.insert_one(session, feedback)
    return feedback


async def list_feedbacks(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    merchant_id: str | None,
    user_id: str | None,
    location_id: str | None,
    states: Sequence[str],
    updated_after: datetime | None,
    page: Page,
) -> PageResult[FeedbackView]:
    return await list_in_scope(
        session,
        principal.merchants(merchant_id),
        user_id=user_id,
        location_id=location_id,
        states=states,
        updated_after=updated_after,
        page=page,
    )


async def list_in_scope(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    user_id: str | None = None,
    location_id: str | None = None,
    states: Sequence[str] = (),
    updated_after: datetime | None = None,
    page: Page,
) -> PageResult[FeedbackView]:
    """Newest first; ``states`` match the state as read (so ``expired`` is found by expiry)."""
    wanted = list(dict.fromkeys(s.strip() for s in states if s.strip()))
    unknown = [s for s in wanted if s not in STATES]
    if unknown:
        raise ValidationFailed(f"states: unknown state '{unknown[0]}'; use {', '.join(STATES)}")
    result = await repository.list_feedbacks(
        session,
        scope,
        now=business_now(),
        user_id=user_id,
        location_id=location_id,
        states=wanted,
        updated_after=updated_after,
        page=page,
    )
    return PageResult(items=[_view(r) for r in result.items], total=result.total, page=page)


async def _get(session: AsyncSession, scope: MerchantScope, feedback_id: str) -> FeedbackRow:
    row = await repository.get_feedback(session, scope, feedback_id, now=business_now())
    if row is None:
        raise NotFound()
    return row


async def respond(
    session: AsyncSession,
    principal: PartnerPrincipal,
    *,
    feedback_id: str,
    merchant_id: str | None,
    response: str,
) -> FeedbackView:
    """Store the merchant's one response; the record becomes ``responded``."""
    return await respond_in_scope(
        session, principal.merchants(merchant_id), feedback_id=feedback_id, response=response
    )


async def respond_in_scope(
    session: AsyncSession, scope: MerchantScope, *, feedback_id: str, response: str
) -> FeedbackView:
    text = _clean_text(response, "feedback.response")
    await _get(session, scope, feedback_id)  # 404 before anything else
    now = business_now()
    done = await repository.transition(
        session,
        scope,
        feedback_id,
        now=now,
        target=FeedbackState.RESPONDED,
        unexpired=False,
        values={"response": text, "responded_at": now},
    )
    if not done:
        current = (await _get(session, scope, feedback_id)).state
        if current == FeedbackState.RESPONDED:
            raise InvalidState("feedback: already has a response; only one per record")
        if current == FeedbackState.EXPIRED:
            raise InvalidState("feedback: expired without a rating; it cannot be answered")
        allowed = " or ".join(FEEDBACK_STATES.allowed_from(FeedbackState.RESPONDED))
        raise InvalidState(f"feedback: is {current}; only {allowed} feedback can be answered")
    return _view(await _get(session, scope, feedback_id))


# --- The customer's side, for sandboxes (endpoints under /sandbox and the admin CLI) ---------


def ensure_sandbox(*, sandbox: bool) -> None:
    """Customer actions do not exist outside a sandbox: they answer 404 there."""
    if not sandbox:
        raise NotFound()


async def _customer_step(
    session: AsyncSession,
    scope: MerchantScope,
    feedback_id: str,
    *,
    target: FeedbackState,
    values: dict[str, object],
) -> FeedbackView:
    """A customer step: a move of ``FEEDBACK_STATES``, and only while the window is open."""
    current = (await _get(session, scope, feedback_id)).state
    done = await repository.transition(
        session,
        scope,
        feedback_id,
        now=business_now(),
        target=target,
        unexpired=True,
        values=values,
    )
    if not done:
        allowed = " or ".join(FEEDBACK_STATES.allowed_from(target))
        raise InvalidState(f"feedback: is {current}; it can become {target} only from {allowed}")
    return _view(await _get(session, scope, feedback_id))


async def customer_view(
    session: AsyncSession, scope: MerchantScope, *, feedback_id: str, sandbox: bool
) -> FeedbackView:
    ensure_sandbox(sandbox=sandbox)
    return await _customer_step(
        session,
        scope,
        feedback_id,
        target=FeedbackState.VIEWED,
        values={"viewed_at": business_now()},
    )


async def customer_rate(
    session: AsyncSession, scope: MerchantScope, *, feedback_id: str, rating: int, sandbox: bool
) -> FeedbackView:
    ensure_sandbox(sandbox=sandbox)
    if not MIN_RATING <= rating <= MAX_RATING:
        raise ValidationFailed(f"feedback.rating: must be from {MIN_RATING} to {MAX_RATING}")
    row = await _get(session, scope, feedback_id)
    now = business_now()
    return await _customer_step(
        session,
        scope,
        feedback_id,
        target=FeedbackState.RATED,
        values={"rating": rating, "rated_at": now, "viewed_at": row.feedback.viewed_at or now},
    )


async def customer_review(
    session: AsyncSession, scope: MerchantScope, *, feedback_id: str, review: str, sandbox: bool
) -> FeedbackView:
    ensure_sandbox(sandbox=sandbox)
    text = _clean_text(review, "feedback.review")
    return await _customer_step(
        session,
        scope,
        feedback_id,
        target=FeedbackState.REVIEWED,
        values={"review": text, "reviewed_at": business_now()},
    )


# Where in the time between the purchase and now each customer step of a demo record lands.
DEMO_STEP_FRACTIONS = (
    ("viewed_at", 0.1),
    ("rated_at", 0.15),
    ("reviewed_at", 0.3),
    ("responded_at", 0.6),
)


async def spread_demo_steps(session: AsyncSession, scope: MerchantScope) -> int:
    """Demo data plays each record's steps in one go; spread the step times between the
    purchase and now (within the record's window), as real customers would take them. Records
    already spread are left alone, so loading the demo again changes nothing. Returns how many
    records moved."""
    now = business_now()
    moved = 0
    for feedback, purchased_at in await repository.with_purchase_times(session, scope):
        steps = [getattr(feedback, name) for name, _ in DEMO_STEP_FRACTIONS]
        taken = [t for t in steps if t is not None]
        if len(taken) < 2 or max(taken) - min(taken) > timedelta(minutes=1):
            continue
        span = min(now, feedback.expires_at) - purchased_at
        for (name, fraction), when in zip(DEMO_STEP_FRACTIONS, steps, strict=True):
            if when is not None:
                setattr(feedback, name, purchased_at + span * fraction)
        moved += 1
    await session.flush()
    return moved
