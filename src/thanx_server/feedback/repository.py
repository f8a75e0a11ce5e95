"""SQL for feedback records.

``expired`` is never stored: a record still ``unviewed`` or ``viewed`` once ``expires_at`` has
passed reads as ``expired`` (``feedback_expired_clause``, domain/states.py). The state and
``updated_at`` a partner sees are therefore SQL expressions over ``now``, used both to render and
to filter, so paging stays consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import (
    FEEDBACK_STATES,
    FeedbackState,
    feedback_expired_clause,
)
from thanx_server.kit.db import UTCDateTime
from thanx_server.kit.pagination import CLOCK_PARAM, Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import Feedback, Purchase

# The stored states that expire when the window closes.
OPEN_STATES = FEEDBACK_STATES.allowed_from(FeedbackState.EXPIRED)


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    feedback: Feedback
    state: str
    updated_at: datetime
    purchased_at: datetime
    amount: Decimal


def _expired(now: datetime) -> ColumnElement[bool]:
    return feedback_expired_clause(Feedback.state, Feedback.expires_at, now)


def effective_state(now: datetime) -> ColumnElement[str]:
    return case((_expired(now), literal(FeedbackState.EXPIRED.value)), else_=Feedback.state)


def effective_updated_at(now: datetime) -> ColumnElement[datetime]:
    # Expiring is a change too: a partner syncing with updated_after sees it at expires_at.
    return type_coerce(
        case((_expired(now), Feedback.expires_at), else_=Feedback.updated_at), UTCDateTime()
    )


def in_states(states: Sequence[str], now: datetime) -> ColumnElement[bool]:
    """``effective_state(now) IN states``, spelled on the stored columns so their indexes serve it.

    ``expired`` is never stored: an open record whose window has closed. An open state therefore
    also needs its window still open; any other state is its stored value.
    """
    stored = [s for s in states if s not in OPEN_STATES and s not in FEEDBACK_STATES.derived]
    still_open = [state for state in states if state in OPEN_STATES]
    terms: list[ColumnElement[bool]] = []
    if stored:
        terms.append(Feedback.state.in_(stored))
    if still_open:
        terms.append(and_(Feedback.state.in_(still_open), Feedback.expires_at > now))
    if FeedbackState.EXPIRED in states:
        terms.append(_expired(now))
    return or_(*terms)


def changed_since(since: datetime, now: datetime) -> ColumnElement[bool]:
    """``effective_updated_at(now) > since``, led by ranges the merchant indexes can serve.

    The effective time is ``updated_at``, or ``expires_at`` once expired (so never after ``now``);
    either way one of the two ranges holds. They narrow the rows; the exact comparison decides.
    """
    return and_(
        or_(
            Feedback.updated_at > since,
            and_(Feedback.expires_at > since, Feedback.expires_at <= now),
        ),
        effective_updated_at(now) > since,
    )


def _select(now: datetime) -> Any:
    # An outer join, though every record has its purchase (a non-null foreign key): a list's
    # count reads no purchase column, and both engines drop an unused outer join to a unique key,
    # so counting a merchant's records reads the feedback index alone (an inner join made
    # PostgreSQL hash every purchase per count). Same rows either way.
    return select(
        Feedback,
        effective_state(now).label("effective_state"),
        effective_updated_at(now).label("effective_updated_at"),
        Purchase.purchased_at,
        Purchase.amount,
    ).outerjoin(Purchase, Purchase.id == Feedback.purchase_id)


def _row(row: Any) -> FeedbackRow:
    return FeedbackRow(
        feedback=row[0],
        state=row[1],
        updated_at=row[2],
        purchased_at=row[3],
        amount=row[4],
    )


async def list_feedbacks(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    now: datetime,
    user_id: str | None,
    location_id: str | None,
    states: Sequence[str],
    updated_after: datetime | None,
    page: Page,
) -> PageResult[FeedbackRow]:
    # The clock as one named parameter (not a value in the statement), so the list's kept
    # total is found again on the next request (kit/pagination.CLOCK_PARAM).
    clock: Any = bindparam(CLOCK_PARAM, now, type_=UTCDateTime())  # stands for a datetime
    stmt = _select(clock).where(scope.clause(Feedback.merchant_id))
    if user_id is not None:
        stmt = stmt.where(Feedback.user_id == user_id)
    if location_id is not None:
        stmt = stmt.where(Feedback.location_id == location_id)
    if states:
        stmt = stmt.where(in_states(states, clock))
    if updated_after is not None:
        stmt = stmt.where(changed_since(updated_after, clock))
    stmt = stmt.order_by(Feedback.created_at.desc(), Feedback.id.desc())
    result = await paginate(session, stmt, page)
    return PageResult(items=[_row(r) for r in result.items], total=result.total, page=page)


async def get_feedback(
    session: AsyncSession, scope: MerchantScope, feedback_id: str, *, now: datetime
) -> FeedbackRow | None:
    stmt = (
        _select(now)
        .where(Feedback.id == feedback_id, scope.clause(Feedback.merchant_id))
        .execution_options(populate_existing=True)
    )
    row = (await session.execute(stmt)).first()
    return _row(row) if row is not None else None


async def transition(
    session: AsyncSession,
    scope: MerchantScope,
    feedback_id: str,
    *,
    now: datetime,
    target: FeedbackState,
    unexpired: bool,
    values: dict[str, Any],
) -> bool:
    """Move one record to ``target`` from a state the table allows (``FEEDBACK_STATES``) in a
    single conditional UPDATE, so two concurrent requests cannot both succeed. False when the
    record was not in such a state (or, with ``unexpired``, its window has closed)."""
    stmt = (
        update(Feedback)
        .where(
            Feedback.id == feedback_id,
            scope.clause(Feedback.merchant_id),
            Feedback.state.in_(FEEDBACK_STATES.allowed_from(target)),
        )
        .values(**values, state=target, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if unexpired:
        stmt = stmt.where(Feedback.expires_at > now)
    result: Any = await session.execute(stmt)
    return bool(result.rowcount == 1)


def add(session: AsyncSession, feedback: Feedback) -> None:
    session.add(feedback)


async def with_purchase_times(
    session: AsyncSession, scope: MerchantScope
) -> Sequence[tuple[Feedback, datetime]]:
    """Every feedback record of the scope with its purchase's time (the demo's backdating)."""
    rows = await session.execute(
        select(Feedback, Purchase.purchased_at)
        .join(Purchase, Purchase.id == Feedback.purchase_id)
        .where(scope.clause(Feedback.merchant_id))
    )
    return [(row[0], row[1]) for row in rows.all()]
