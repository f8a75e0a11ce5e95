"""SQL for webhook endpoints, events, deliveries and the attempt log.

Writer side (the outbox): bulk inserts through ``kit/bulk``. Worker side: claim due deliveries
with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the claim runs in a
``BEGIN IMMEDIATE`` session), record outcomes set-wise under the lease. Every UPDATE that moves a
delivery takes its source states from ``DELIVERY_STATES`` (domain/states.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import DELIVERY_STATES, DeliveryState
from thanx_server.kit.bulk import insert_rows
from thanx_server.kit.ids import new_id
from thanx_server.kit.pagination import Page, PageResult, paginate
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.sqlarray import in_list
from thanx_server.models import (
    CommunicationSetting,
    Membership,
    User,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventFrame,
    WebhookOutbox,
)

# --- endpoints ----------------------------------------------------------------------------


def add_endpoint(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    session.add(endpoint)


async def get_endpoint(
    session: AsyncSession, scope: MerchantScope, endpoint_id: str
) -> WebhookEndpoint | None:
    return await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, scope.clause(WebhookEndpoint.merchant_id)
        )
    )


async def list_endpoints(
    session: AsyncSession, scope: MerchantScope, page: Page
) -> PageResult[WebhookEndpoint]:
    stmt = (
        select(WebhookEndpoint)
        .where(scope.clause(WebhookEndpoint.merchant_id))
        .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
    )
    return await paginate(session, stmt, page)


async def delete_endpoint(session: AsyncSession, endpoint_id: str) -> None:
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


async def subscribed_endpoints(session: AsyncSession, merchant_id: str, type: str) -> list[str]:
    """Enabled endpoints of the merchant whose filter takes ``type`` (a merchant has a handful:
    the filter is applied here rather than in portable JSON SQL)."""
    rows = await session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            MerchantScope.one(merchant_id).clause(WebhookEndpoint.merchant_id),
            WebhookEndpoint.enabled.is_(True),
        )
    )
    return [eid for eid, types in rows if not types or type in types]


async def disable_endpoints(
    session: AsyncSession, endpoint_ids: Collection[str], reason: str, now: datetime
) -> None:
    if not endpoint_ids:
        return
    await session.execute(
        update(WebhookEndpoint)
        .where(in_list(WebhookEndpoint.id, list(endpoint_ids)))
        .values(enabled=False, disabled_reason=reason[:200], updated_at=now)
        .execution_options(synchronize_session=False)
    )


# --- events and deliveries (the outbox) -----------------------------------------------------

EVENT_COLUMNS = ("id", "subject_id", "body")
DELIVERY_COLUMNS = ("id", "event_id", "endpoint_id")


async def insert_outbox(
    session: AsyncSession,
    *,
    merchant_id: str,
    type: str,
    rows: Sequence[tuple[str, str | None, str]],
    created_at: datetime,
    due: datetime,
    frame_id: str | None = None,
) -> None:
    """The events of one state change as ONE outbox row (``rows``: event id, subject id, body)."""
    await session.execute(
        insert(WebhookOutbox).values(
            id=new_id(),
            merchant_id=merchant_id,
            type=type,
            frame_id=frame_id,
            events=json.dumps(rows, separators=(",", ":")),
            event_count=len(rows),
            created_at=created_at,
            deliver_after=due,
        )
    )


async def outbox_health(
    session: AsyncSession, scope: MerchantScope
) -> tuple[int, datetime | None, int]:
    """The scope's deliveries still pending (and when the oldest was queued) and its events not
    yet turned into deliveries: two aggregate statements."""
    pending, oldest = (
        await session.execute(
            select(func.count(), func.min(WebhookDelivery.created_at))
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(
                WebhookDelivery.state == DeliveryState.PENDING,
                scope.clause(WebhookEvent.merchant_id),
            )
        )
    ).one()
    undispatched = await session.scalar(
        select(func.sum(WebhookOutbox.event_count)).where(scope.clause(WebhookOutbox.merchant_id))
    )
    return int(pending or 0), oldest, int(undispatched or 0)


async def frame_parts(session: AsyncSession, frame_id: str) -> tuple[str, str] | None:
    """A frame's prefix and suffix (an event's body is the part between them)."""
    row = (
        await session.execute(
            select(WebhookEventFrame.prefix, WebhookEventFrame.suffix).where(
                WebhookEventFrame.id == frame_id
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


async def insert_frame(session: AsyncSession, *, prefix: str, suffix: str, now: datetime) -> str:
    frame_id = new_id()
    await session.execute(
        insert(WebhookEventFrame).values(id=frame_id, prefix=prefix, suffix=suffix, created_at=now)
    )
    return frame_id


# --- dispatch: committed events become deliveries of the endpoints subscribed to them ---------


async def any_in_outbox(session: AsyncSession) -> bool:
    return await session.scalar(select(WebhookOutbox.id).limit(1)) is not None


async def take_outbox(session: AsyncSession, limit: int) -> list[Any]:
    """Take the oldest outbox rows, whole, until they hold ``limit`` events or more (or the
    outbox is empty), out of the outbox, in ONE DELETE ... RETURNING:

    * the candidates: the oldest ``limit`` rows (no row holds fewer than one event);
    * the picked: those with fewer than ``limit`` events ahead of them (a running sum);
    * those locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (another worker dispatching takes
      the next ones, never the same), deleted, their events returned.

    The caller writes the events and their deliveries in the same transaction, so a rollback
    (or a crash) puts them all back."""
    oldest = (
        select(WebhookOutbox.id, WebhookOutbox.event_count, WebhookOutbox.created_at)
        .order_by(WebhookOutbox.created_at, WebhookOutbox.id)
        .limit(limit)
        .subquery("oldest")
    )
    running = select(
        oldest.c.id,
        (
            func.sum(oldest.c.event_count).over(order_by=(oldest.c.created_at, oldest.c.id))
            - oldest.c.event_count
        ).label("ahead"),
    ).subquery("running")
    picked = select(running.c.id).where(running.c.ahead < limit)
    outbox = cast(Table, WebhookOutbox.__table__)
    locked = _lock_for_claim(session, select(outbox.c.id).where(outbox.c.id.in_(picked)))
    rows = await session.execute(
        delete(outbox)
        .where(outbox.c.id.in_(locked))
        .returning(
            outbox.c.id,
            outbox.c.merchant_id,
            outbox.c.type,
            outbox.c.frame_id,
            outbox.c.events,
            outbox.c.created_at,
            outbox.c.deliver_after,
        )
    )
    # RETURNING has no order: the rows are expanded in the order they were written.
    return sorted(rows, key=lambda r: (r.created_at, r.id))


async def insert_events(
    session: AsyncSession,
    *,
    merchant_id: str,
    type: str,
    rows: Sequence[Sequence[Any]],
    created_at: datetime,
    due: datetime,
    frame_id: str | None,
) -> None:
    """The events of one outbox row (``rows``: event id, subject id, body): one INSERT."""
    await insert_rows(
        session,
        WebhookEvent.__table__,  # type: ignore[arg-type]
        shared={
            "merchant_id": merchant_id,
            "type": type,
            "frame_id": frame_id,
            "created_at": created_at,
            "deliver_after": due,
        },
        columns=EVENT_COLUMNS,
        rows=rows,
    )


async def endpoints_of(session: AsyncSession, merchant_ids: Collection[str]) -> list[Any]:
    """(id, merchant id, event types) of the enabled endpoints of these merchants."""
    scope = MerchantScope(tuple(merchant_ids))
    return list(
        await session.execute(
            select(
                WebhookEndpoint.id, WebhookEndpoint.merchant_id, WebhookEndpoint.event_types
            ).where(scope.clause(WebhookEndpoint.merchant_id), WebhookEndpoint.enabled.is_(True))
        )
    )


async def insert_deliveries(
    session: AsyncSession, *, rows: Sequence[tuple[str, str, str]], due: datetime, now: datetime
) -> None:
    await insert_rows(
        session,
        WebhookDelivery.__table__,  # type: ignore[arg-type]
        shared={
            "state": DELIVERY_STATES.initial.value,
            "attempts": 0,
            "next_attempt_at": due,
            "created_at": now,
            "updated_at": now,
        },
        columns=DELIVERY_COLUMNS,
        rows=rows,
    )


async def refresh_statistics(session: AsyncSession) -> None:
    """PostgreSQL: ``ANALYZE webhook_deliveries`` (after a bulk fan-out; autovacuum would get
    there within a minute, after the claims that needed it). SQLite: nothing (its planner uses
    the due index without statistics)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("ANALYZE webhook_deliveries"))


async def get_event(session: AsyncSession, scope: MerchantScope, event_id: str) -> Any:
    return await session.scalar(
        select(WebhookEvent).where(
            WebhookEvent.id == event_id, scope.clause(WebhookEvent.merchant_id)
        )
    )


async def outbox_event(session: AsyncSession, scope: MerchantScope, event_id: str) -> Any:
    """An event of the scope still in the outbox (committed, not yet expanded by a worker) as an
    unsaved ``WebhookEvent``, or None. The outbox holds the last moments' events only; the
    rows whose JSON names the id are read and the exact one picked out."""
    needle = json.dumps([event_id])[:-1] + ","  # '["<id>",' starts that event's entry
    rows = await session.scalars(
        select(WebhookOutbox).where(
            scope.clause(WebhookOutbox.merchant_id),
            WebhookOutbox.events.contains(needle, autoescape=True),
        )
    )
    for row in rows:
        for found, subject_id, body in json.loads(row.events):
            if found == event_id:
                return WebhookEvent(
                    id=found,
                    merchant_id=row.merchant_id,
                    type=row.type,
                    subject_id=subject_id,
                    frame_id=row.frame_id,
                    body=body,
                    created_at=row.created_at,
                    deliver_after=row.deliver_after,
                )
    return None


async def events_between(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    since: datetime,
    until: datetime,
    types: Collection[str],
) -> list[tuple[str, datetime]]:
    """Events of the scope created in ``[since, until)`` (of ``types``; empty: any), with their
    ``deliver_after``, oldest first."""
    stmt = (
        select(WebhookEvent.id, WebhookEvent.deliver_after)
        .where(
            scope.clause(WebhookEvent.merchant_id),
            WebhookEvent.created_at >= since,
            WebhookEvent.created_at < until,
        )
        .order_by(WebhookEvent.created_at, WebhookEvent.id)
    )
    if types:
        stmt = stmt.where(WebhookEvent.type.in_(list(types)))
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def deliveries_of_event(session: AsyncSession, event_id: str) -> list[WebhookDelivery]:
    return list(
        await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.event_id == event_id)
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
    )


async def list_attempts(
    session: AsyncSession,
    scope: MerchantScope,
    page: Page,
    *,
    endpoint_id: str | None,
    event_id: str | None,
    event_type: str | None,
    succeeded: bool | None,
    since: datetime | None,
    until: datetime | None,
) -> PageResult[WebhookAttempt]:
    stmt = select(WebhookAttempt).where(scope.clause(WebhookAttempt.merchant_id))
    if endpoint_id is not None:
        stmt = stmt.where(WebhookAttempt.endpoint_id == endpoint_id)
    if event_id is not None:
        stmt = stmt.where(WebhookAttempt.event_id == event_id)
    if event_type is not None:
        stmt = stmt.where(WebhookAttempt.event_type == event_type)
    if succeeded is not None:
        ok = and_(WebhookAttempt.status_code >= 200, WebhookAttempt.status_code < 300)
        stmt = stmt.where(ok if succeeded else or_(WebhookAttempt.status_code.is_(None), ~ok))
    if since is not None:
        stmt = stmt.where(WebhookAttempt.attempted_at >= since)
    if until is not None:
        stmt = stmt.where(WebhookAttempt.attempted_at < until)
    stmt = stmt.order_by(WebhookAttempt.attempted_at.desc(), WebhookAttempt.id.desc())
    return await paginate(session, stmt, page)


# --- worker side ----------------------------------------------------------------------------


def _lock_for_claim(session: AsyncSession, stmt: Any) -> Any:
    """PostgreSQL: skip rows other workers are claiming; SQLite: the BEGIN IMMEDIATE session
    already makes claimers take turns."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def _due(business_now: datetime, now: datetime, busy: Collection[str]) -> Select[Any]:
    stmt = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.state == DeliveryState.PENDING,
            WebhookDelivery.next_attempt_at <= business_now,
            or_(WebhookDelivery.lease_expires_at.is_(None), WebhookDelivery.lease_expires_at < now),
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
    )
    if busy:
        stmt = stmt.where(not_(in_list(WebhookDelivery.endpoint_id, list(busy))))
    return stmt


async def any_due(
    session: AsyncSession, business_now: datetime, now: datetime, busy: Collection[str]
) -> bool:
    return await session.scalar(_due(business_now, now, busy).limit(1)) is not None


CLAIM_COLUMNS = (
    WebhookEvent.type,
    WebhookEvent.body,
    WebhookEventFrame.prefix,
    WebhookEventFrame.suffix,
    WebhookEvent.merchant_id,
    WebhookEndpoint.url,
    WebhookEndpoint.headers,
    WebhookEndpoint.secret,
    WebhookEndpoint.previous_secret,
    WebhookEndpoint.previous_secret_expires_at,
    WebhookEndpoint.retry_mode,
    WebhookEndpoint.standard_headers,
    WebhookEndpoint.fault,
)


def _with_payload(claimed: Any) -> Select[Any]:
    """The claimed deliveries (a CTE or a table filtered by id) with what sending them needs."""
    return (
        select(
            claimed.c.id,
            claimed.c.event_id,
            claimed.c.endpoint_id,
            claimed.c.attempts,
            *CLAIM_COLUMNS,
        )
        .join(WebhookEvent, WebhookEvent.id == claimed.c.event_id)
        .outerjoin(WebhookEventFrame, WebhookEventFrame.id == WebhookEvent.frame_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == claimed.c.endpoint_id)
        .order_by(claimed.c.next_attempt_at, claimed.c.id)
    )


async def claim_due(
    session: AsyncSession,
    *,
    owner: str,
    business_now: datetime,
    now: datetime,
    lease_until: datetime,
    limit: int,
    room: Mapping[str, int],
    cap: int,
) -> list[Any]:
    """Lease up to ``limit`` due deliveries to ``owner``, at most ``room[endpoint]`` of an
    endpoint (``cap`` for one not in ``room``; an endpoint with no room is not even read), so a
    backlog of one endpoint never takes every slot. One UPDATE:

    * the candidates: the oldest ``limit`` due, unleased deliveries of endpoints with room (an
      index scan in due order);
    * each endpoint's share: ``row_number()`` over the candidates per endpoint, kept up to the
      endpoint's room (the cap is applied here, in SQL, not by reading rows back);
    * those picked rows locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers
      never wait for each other nor lease a row twice (SQLite's ``BEGIN IMMEDIATE`` makes
      claimers take turns);
    * the lease, ``attempts + 1``, and the payload returned: PostgreSQL joins the UPDATE's
      RETURNING (a CTE) to the event and the endpoint in the same statement; SQLite, whose
      RETURNING may name only the updated table, reads the payload of the returned ids next
      (in process, no round trip).
    """
    if limit <= 0:
        return []
    full = [endpoint for endpoint, n in room.items() if n <= 0]
    candidates = (
        _due(business_now, now, full)
        .add_columns(WebhookDelivery.endpoint_id, WebhookDelivery.next_attempt_at)
        .limit(limit)
        .subquery("candidates")
    )
    rank = (
        select(
            candidates.c.id,
            candidates.c.endpoint_id,
            func.row_number()
            .over(
                partition_by=candidates.c.endpoint_id,
                order_by=(candidates.c.next_attempt_at, candidates.c.id),
            )
            .label("rank"),
        )
    ).subquery("ranked")
    by_room: dict[int, list[str]] = {}
    for endpoint, n in room.items():
        if 0 < n < cap:
            by_room.setdefault(n, []).append(endpoint)
    share: Any = literal(cap)
    if by_room:
        share = case(
            *((in_list(rank.c.endpoint_id, ids), n) for n, ids in sorted(by_room.items())),
            else_=cap,
        )
    picked = select(rank.c.id).where(rank.c.rank <= share)
    table = cast(Table, WebhookDelivery.__table__)
    free_now = (
        table.c.state == DeliveryState.PENDING,
        or_(table.c.lease_expires_at.is_(None), table.c.lease_expires_at < now),
    )
    # Only the picked rows are locked, skipping any another worker holds; PostgreSQL
    # re-evaluates the conditions on the row version it locks, so a row another worker leased
    # meanwhile is left out, never leased twice.
    locked = _lock_for_claim(session, select(table.c.id).where(table.c.id.in_(picked), *free_now))
    claim = (
        update(table)
        .where(table.c.id.in_(locked), *free_now)
        .values(
            lease_owner=owner,
            lease_expires_at=lease_until,
            attempts=table.c.attempts + 1,
            updated_at=now,
        )
        .returning(
            table.c.id,
            table.c.event_id,
            table.c.endpoint_id,
            table.c.attempts,
            table.c.next_attempt_at,
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        return list(await session.execute(_with_payload(claim.cte("claimed"))))
    ids = [row.id for row in await session.execute(claim)]
    if not ids:
        return []
    return list(await session.execute(_with_payload(table).where(in_list(table.c.id, ids))))


ATTEMPT_COLUMNS = (
    "id",
    "delivery_id",
    "event_id",
    "endpoint_id",
    "merchant_id",
    "event_type",
    "attempt",
    "status_code",
    "duration_ms",
    "response_excerpt",
    "error",
)


async def insert_attempts(
    session: AsyncSession, *, rows: Sequence[Sequence[Any]], attempted_at: datetime
) -> None:
    await insert_rows(
        session,
        WebhookAttempt.__table__,  # type: ignore[arg-type]
        shared={"attempted_at": attempted_at},
        columns=ATTEMPT_COLUMNS,
        rows=rows,
    )


async def finish_deliveries(
    session: AsyncSession,
    *,
    ids: Sequence[str],
    owner: str,
    state: DeliveryState,
    last_status: int | None,
    now: datetime,
) -> None:
    """Move leased deliveries to ``delivered``/``failed`` (one statement per outcome group)."""
    if not ids:
        return
    await session.execute(
        update(WebhookDelivery)
        .where(
            in_list(WebhookDelivery.id, list(ids)),
            WebhookDelivery.lease_owner == owner,
            WebhookDelivery.state.in_(DELIVERY_STATES.allowed_from(state)),
        )
        .values(
            state=state,
            last_status=last_status,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def retry_later(
    session: AsyncSession,
    *,
    delivery_id: str,
    owner: str,
    next_attempt_at: datetime,
    last_status: int | None,
    now: datetime,
) -> None:
    """Keep a delivery ``pending`` for another attempt (retry mode): the lease is dropped."""
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.lease_owner == owner,
            WebhookDelivery.state == DeliveryState.PENDING,
        )
        .values(
            next_attempt_at=next_attempt_at,
            last_status=last_status,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def renew(
    session: AsyncSession, *, ids: Sequence[str], owner: str, lease_until: datetime
) -> None:
    """Extend the leases ``owner`` still holds on these deliveries (one UPDATE by id): a row
    whose lease expired and another worker took is no longer ``owner``'s and is left alone."""
    await session.execute(
        update(WebhookDelivery)
        .where(
            in_list(WebhookDelivery.id, list(ids)),
            WebhookDelivery.lease_owner == owner,
            WebhookDelivery.state == DeliveryState.PENDING,
        )
        .values(lease_expires_at=lease_until)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, *, ids: Sequence[str], owner: str, now: datetime) -> None:
    """Hand leases back unsent (shutdown): the attempt is not counted."""
    if not ids:
        return
    await session.execute(
        update(WebhookDelivery)
        .where(in_list(WebhookDelivery.id, list(ids)), WebhookDelivery.lease_owner == owner)
        .values(
            lease_owner=None,
            lease_expires_at=None,
            attempts=WebhookDelivery.attempts - 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def purge_attempts(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(
        delete(WebhookAttempt).where(WebhookAttempt.attempted_at < before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_events(session: AsyncSession, before: datetime) -> int:
    """Events older than the retention with no pending delivery (their deliveries go with
    them, ON DELETE CASCADE)."""
    pending = select(WebhookDelivery.event_id).where(WebhookDelivery.state == DeliveryState.PENDING)
    result = await session.execute(
        delete(WebhookEvent).where(
            WebhookEvent.created_at < before, WebhookEvent.id.not_in(pending)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_frames(session: AsyncSession, before: datetime) -> int:
    """Frames older than the retention that no event and no outbox row uses. A frame is written
    with its chunk's events (same instant), so only events older than the retention can use an
    old frame, and after ``purge_events`` those are the few with a pending delivery."""
    used_by_events = select(WebhookEvent.frame_id).where(
        WebhookEvent.created_at < before, WebhookEvent.frame_id.is_not(None)
    )
    used_by_outbox = select(WebhookOutbox.frame_id).where(WebhookOutbox.frame_id.is_not(None))
    result = await session.execute(
        delete(WebhookEventFrame).where(
            WebhookEventFrame.created_at < before,
            WebhookEventFrame.id.not_in(used_by_events),
            WebhookEventFrame.id.not_in(used_by_outbox),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- trigger sources (real state the sandbox trigger builds events from) -------------------


async def newest_or_one(
    session: AsyncSession, scope: MerchantScope, model: Any, subject_id: str | None, *extra: Any
) -> Any:
    """``model`` row ``subject_id`` of the scope, or the scope's newest (``extra`` filters)."""
    stmt = select(model).where(scope.clause(model.merchant_id), *extra)
    if subject_id is not None:
        stmt = stmt.where(model.id == subject_id)
    stmt = stmt.order_by(model.created_at.desc(), model.id.desc()).limit(1)
    return await session.scalar(stmt)


async def member(
    session: AsyncSession, scope: MerchantScope, user_id: str | None
) -> tuple[Any, Any, Any] | None:
    """(membership, user, communication settings or None) of a member of the scope."""
    stmt = (
        select(Membership, User, CommunicationSetting)
        .join(User, User.id == Membership.user_id)
        .outerjoin(
            CommunicationSetting,
            and_(
                CommunicationSetting.user_id == Membership.user_id,
                CommunicationSetting.merchant_id == Membership.merchant_id,
            ),
        )
        .where(scope.clause(Membership.merchant_id))
    )
    if user_id is not None:
        stmt = stmt.where(Membership.user_id == user_id)
    row = (
        await session.execute(
            stmt.order_by(Membership.joined_at.desc(), Membership.user_id.desc()).limit(1)
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])
