"""Workers draw the codes of a large creation count (above one call's 100,000), a chunk of
``service.CHUNK`` codes per transaction, under a lease like issuance jobs (issuance/worker.py
runs both). A chunk's codes and the counters that record them commit together, and the counter
UPDATE is guarded by the lease and the expected ``codes_pending``: a worker that died mid-chunk
left nothing, one that lost its lease writes nothing, and another resumes where the last commit
stopped. So the pool ends with exactly the count asked for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import structlog

from thanx_server.kit.db import Database
from thanx_server.kit.time import utcnow
from thanx_server.promotion import repository, service

log = structlog.get_logger("thanx.promotion.tasks")


def _never() -> bool:
    return False


async def run_once(
    db: Database, *, owner: str, lease: timedelta, should_stop: Callable[[], bool] = _never
) -> bool:
    """Claim one promotion with codes to draw and draw them. False when there was none."""
    async with db.read_sessions() as session:
        if not await repository.any_pending(session, utcnow()):
            return False
    async with db.write_sessions() as session, session.begin():
        now = utcnow()
        promotion = await repository.claim_pending(
            session, owner=owner, now=now, lease_until=now + lease
        )
        if promotion is None:
            return False
        promotion_id = promotion.id
    log.info("promotion.codes_claimed", promotion_id=promotion_id)
    while not should_stop():
        try:
            pending, size, more = await _one_chunk(db, promotion_id, owner=owner, lease=lease)
        except _LeaseLost:
            log.warning("promotion.lease_lost", promotion_id=promotion_id)
            return True
        if not more or pending - size <= 0:
            if more:
                log.info("promotion.codes_done", promotion_id=promotion_id)
            return True
    return True


class _LeaseLost(Exception):
    """Another worker holds the promotion now: this chunk is rolled back."""


async def _one_chunk(
    db: Database, promotion_id: str, *, owner: str, lease: timedelta
) -> tuple[int, int, bool]:
    """One transaction: draw a chunk and count it. (pending before, drawn, whether it drew)."""
    async with db.write_sessions() as session, session.begin():
        promotion = await repository.get_for_worker(session, promotion_id)
        if (
            promotion is None
            or promotion.lease_owner != owner
            or promotion.codes_pending <= 0
            or promotion.pending_batch_id is None
        ):
            return 0, 0, False
        now = utcnow()
        pending = promotion.codes_pending
        size = min(service.CHUNK, pending)
        await service.insert_chunk(session, promotion, promotion.pending_batch_id, size, now)
        if not await repository.advance(
            session, promotion_id, owner=owner, pending=pending, drawn=size, now=now,
            lease_until=now + lease,
        ):  # fmt: skip
            raise _LeaseLost()
    return pending, size, True


async def drain(db: Database, *, owner: str, lease: timedelta) -> int:
    """Draw every pending code (tests, demo); how many promotions were claimed."""
    count = 0
    while await run_once(db, owner=owner, lease=lease):
        count += 1
    return count
