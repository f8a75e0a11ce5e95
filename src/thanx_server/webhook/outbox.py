"""``emit``: events written in the caller's transaction (the outbox), never after it.

A rolled-back request or chunk therefore sends nothing, and a committed one is never lost.
The events of one ``emit`` are ONE outbox row, whatever their number (an issuance chunk's ~2,000
``reward.issued``); a delivery worker later expands committed rows into events and queues each
for the endpoints subscribed to it (``tasks.dispatch``), so the state change that causes the
events pays for one row, not for an event row each nor for their fan-out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.ids import new_id, new_ids
from thanx_server.webhook import events, repository
from thanx_server.webhook.events import EventType

# (event id, subject id, body)
EventRow = tuple[str, str | None, str]


async def emit(
    session: AsyncSession,
    *,
    merchant_id: str,
    type: EventType,
    rows: Sequence[EventRow],
    now: datetime,
    deliver_after: datetime | None = None,
    frame_id: str | None = None,
) -> None:
    """Write ``rows`` as events of ``type`` (one outbox row). ``frame_id``: their bodies are
    the parts of that frame's bodies."""
    if not rows:
        return
    await repository.insert_outbox(
        session,
        merchant_id=merchant_id,
        type=type,
        rows=rows,
        created_at=now,
        due=deliver_after or now,
        frame_id=frame_id,
    )


def new_event_id() -> str:
    return new_id()


async def emit_one(
    session: AsyncSession,
    *,
    merchant_id: str,
    type: EventType,
    subject_id: str | None,
    body: str,
    now: datetime,
    deliver_after: datetime | None = None,
) -> str:
    event_id = new_id()
    await emit(
        session,
        merchant_id=merchant_id,
        type=type,
        rows=[(event_id, subject_id, body)],
        now=now,
        deliver_after=deliver_after,
    )
    return event_id


# --- the issuance events (written inside the worker's chunk transactions) -------------------


async def rewards_issued(
    session: AsyncSession,
    *,
    job_id: str,
    merchant_id: str,
    campaign: Any,
    variant: Any,
    available_at: datetime,
    rewards: Sequence[tuple[str, str, int, str]],
    now: datetime,
) -> None:
    """One ``reward.issued`` per reward of a chunk (``rewards``: reward id, user id, identifier
    index, identifier type): one frame row and one outbox row of the events' parts."""
    if not rewards:
        return
    frame = events.RewardIssuedFrame(
        job_id=job_id,
        merchant_id=merchant_id,
        campaign=campaign,
        variant=variant,
        state=events.reward_state(available_at, now),
        expires_at=campaign.redeemable_to,
        now=now,
    )
    frame_id = await repository.insert_frame(
        session, prefix=frame.prefix, suffix=frame.suffix, now=now
    )
    event_ids = new_ids(len(rewards))
    part = frame.part
    rows = [
        (event_ids[i], reward_id, part(reward_id=reward_id, kind=kind, index=index, user_id=uid))
        for i, (reward_id, uid, index, kind) in enumerate(rewards)
    ]
    await emit(
        session,
        merchant_id=merchant_id,
        type=EventType.REWARD_ISSUED,
        rows=rows,
        now=now,
        frame_id=frame_id,
    )


async def batch_completed(
    session: AsyncSession,
    *,
    job: Any,
    identifiers: Sequence[Any],
    failures: Sequence[tuple[int, str, str]],
    now: datetime,
) -> str:
    """``reward_batch.completed`` for a finished ``job`` (its row as committed by this
    transaction); failures are named by the failing identifier's value (D.3)."""

    def value(index: int) -> str:
        if 0 <= index < len(identifiers) and isinstance(identifiers[index], dict):
            return str(identifiers[index].get("value", ""))
        return ""

    body = events.reward_batch_completed(
        job_id=job.id,
        merchant_id=job.merchant_id,
        state=job.state,
        total_count=job.total_count,
        issued_count=job.success_count,
        failed_count=job.failure_count,
        failures=[(value(index), reason) for index, _, reason in failures],
        now=now,
    )
    return await emit_one(
        session,
        merchant_id=job.merchant_id,
        type=EventType.REWARD_BATCH_COMPLETED,
        subject_id=job.id,
        body=body,
        now=now,
    )
