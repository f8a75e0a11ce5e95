"""The delivery worker: claims due deliveries with a lease, sends them, logs every attempt.

A round of the worker is ONE write transaction: record what finished, then claim.

* **Claim** (``repository.claim_due``, one UPDATE): up to the free slots' worth of due
  ``pending`` deliveries whose lease is free or expired, each endpoint's share capped in SQL,
  skipping endpoints that still hold more than half their share; each gets
  ``lease_owner``/``lease_expires_at`` and ``attempts + 1``. PostgreSQL locks the picked rows
  ``FOR UPDATE SKIP LOCKED``, so any number of workers share the queue.
* **Send**: each delivery is its own task holding one slot (``slots`` in all, at most
  ``per_endpoint`` sending to one endpoint at a time), so a receiver that hangs holds its own
  share for at most the timeout and never the others'.
* **Record** (set-based, in the round's transaction): the attempts go to the log with one
  INSERT; delivered and failed deliveries move with one UPDATE per group; retries each get
  their ``next_attempt_at``. Every UPDATE is guarded by the lease owner.
* **Crash**: a worker killed mid-batch leaves leased rows behind; once the lease expires (two
  send timeouts and a margin after the worker's last renewal: a live worker renews every lease
  it holds every third of that) another worker sends them again (at least once; the event id,
  and so ``webhook-id``, is the same).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.domain.states import DeliveryState
from thanx_server.issuance.tasks import default_owner
from thanx_server.kit import clock
from thanx_server.kit.db import Database
from thanx_server.kit.ids import new_ids
from thanx_server.kit.time import utcnow
from thanx_server.settings import Settings
from thanx_server.webhook import http1, repository, safety, sender
from thanx_server.webhook.signing import signature_headers

log = structlog.get_logger("thanx.webhooks")

# Standard Webhooks: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1  # +-10% of each delay
LEASE_MARGIN = timedelta(seconds=5)
FAULT_DELAY = timedelta(seconds=5)
# After the first send of a batch finishes, how long to wait for more before recording them.
LINGER = 0.2
# An endpoint may hold this many rounds of its concurrency claimed (``DeliveryConfig.claim_cap``).
QUEUE_FACTOR = 16
# Events expanded and queued for their endpoints per dispatch transaction (whole outbox rows are
# taken until they hold this many: a 2,000-identifier chunk's row is one).
DISPATCH_BATCH = 5000
# Deliveries queued by one dispatch from which the planner's statistics are refreshed.
ANALYZE_AFTER = 1000


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    owner: str
    timeout: float
    slots: int
    per_endpoint: int
    poll_interval: float
    # Production without THANX_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: every new connection's address
    # is checked when it is opened (``safety.ConnectGuard``), not only the URL at registration.
    check_addresses: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, owner: str | None = None) -> DeliveryConfig:
        return cls(
            owner=owner or default_owner(),
            timeout=settings.webhook_timeout,
            slots=settings.webhook_slots,
            per_endpoint=min(settings.webhook_slots_per_endpoint, settings.webhook_slots),
            poll_interval=settings.webhook_poll_interval,
            check_addresses=not settings.is_sandbox
            and not settings.webhook_allow_private_addresses,
        )

    def new_client(self) -> http1.Pool:
        guard = safety.ConnectGuard().addresses if self.check_addresses else None
        return sender.new_client(self.slots, guard=guard)

    @property
    def claim_cap(self) -> int:
        """Deliveries one endpoint may hold claimed: up to ``QUEUE_FACTOR`` rounds of its
        concurrency (so claims and records come in large batches), never more than half the
        slots (the others stay free for other endpoints)."""
        return max(self.per_endpoint, min(self.per_endpoint * QUEUE_FACTOR, self.slots // 2))

    @property
    def lease(self) -> timedelta:
        """Two send timeouts and a margin (35 s with the defaults): a dead worker's claims are
        free again that long after its last renewal. A live worker renews the leases of
        everything it holds every ``renew_every`` (``Deliverer._renew``), however many rounds
        of an endpoint's concurrency it holds queued behind the endpoint's gate."""
        return timedelta(seconds=2 * self.timeout) + LEASE_MARGIN

    @property
    def renew_every(self) -> float:
        """Seconds between renewals: a third of the lease, so two renewals may be late (a busy
        database, a slow round) before a live worker's claims could expire."""
        return self.lease.total_seconds() / 3


def retry_delay(attempt: int, retry_after: float | None, *, rng: random.Random) -> timedelta | None:
    """The wait after failed attempt number ``attempt`` (1-based); None when retries are spent.
    ``Retry-After`` lengthens the wait, never shortens it."""
    if attempt > len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[attempt - 1]
    delay = base * (1 + rng.uniform(-JITTER, JITTER))
    if retry_after is not None:
        delay = max(delay, timedelta(seconds=retry_after))
    return delay


@dataclass
class _Outcome:
    row: Any
    result: sender.AttemptResult
    sent_at: Any


@dataclass
class Deliverer:
    """One worker's slots. ``claim`` records what finished and fills free slots (one
    transaction); ``wait`` collects finished sends; ``flush`` records without claiming (the
    last round, shutdown)."""

    db: Database
    config: DeliveryConfig
    client: http1.Pool
    rng: random.Random = field(default_factory=random.Random)
    # task -> (endpoint id, delivery id)
    inflight: dict[asyncio.Task[_Outcome], tuple[str, str]] = field(default_factory=dict)
    done: list[_Outcome] = field(default_factory=list)
    gates: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _found_work: bool = False
    _dispatched_at: float = float("-inf")
    _renewed_at: float = float("-inf")

    def _in_flight(self) -> Counter[str]:
        return Counter(endpoint for endpoint, _ in self.inflight.values())

    async def claim(self) -> int:
        """Record what has finished and fill the free slots, in ONE write transaction (the
        log INSERT, the deliveries' moves, the claim UPDATE): a round of the worker is one
        commit. Claims come in batches: an endpoint is claimed for again only once half of
        its share has come back, so each round covers many deliveries, not one; an endpoint
        still holding more than that is not read at all (the others' work is)."""
        await self._dispatch()
        await self._renew()
        outcomes, self.done = self.done, []
        plan = _plan(outcomes, self.rng)
        free = self.config.slots - len(self.inflight)
        cap = self.config.claim_cap
        room = {e: (cap - n if n <= cap // 2 else 0) for e, n in self._in_flight().items()}
        busy = [e for e, n in room.items() if n <= 0]
        if not outcomes:
            if free <= 0:
                return 0
            if not self._found_work:
                # An idle worker only reads: on SQLite the claim's BEGIN IMMEDIATE would take
                # the write lock from the API's writers every poll.
                async with self.db.read_sessions() as session:
                    if not await repository.any_due(session, clock.business_now(), utcnow(), busy):
                        return 0
        rows: list[Any] = []
        async with self.db.write_sessions() as session, session.begin():
            now = utcnow()
            await _write(session, self.config, plan, now)
            if free > 0:
                rows = await repository.claim_due(
                    session,
                    owner=self.config.owner,
                    business_now=clock.business_now(),
                    now=now,
                    lease_until=now + self.config.lease,
                    limit=free,
                    room=room,
                    cap=cap,
                )
        _log_disabled(plan)
        self._found_work = bool(rows)
        if any(r.fault == "reorder" for r in rows):
            rows = _reorder(rows, self.rng)
        for row in rows:
            task = asyncio.create_task(self._send(row))
            self.inflight[task] = (row.endpoint_id, row.id)
        return len(rows)

    async def _renew(self) -> None:
        """Every ``renew_every`` seconds, push the lease of every delivery this worker holds
        (sending, queued behind its endpoint's gate, or sent and not yet recorded) one lease
        ahead: one UPDATE by id, guarded by the lease owner. A claim renews nothing else: the
        leases of its own rows start fresh."""
        started = asyncio.get_running_loop().time()
        if started - self._renewed_at < self.config.renew_every:
            return
        held = [delivery_id for _, delivery_id in self.inflight.values()]
        held += [outcome.row.id for outcome in self.done]
        self._renewed_at = started
        if not held:
            return
        async with self.db.write_sessions() as session, session.begin():
            now = utcnow()
            await repository.renew(
                session, ids=held, owner=self.config.owner, lease_until=now + self.config.lease
            )

    async def _dispatch(self) -> None:
        """Fan out new events: at once when the worker had nothing to do, otherwise at most
        once per poll interval (each look is a read; a busy worker need not make it every
        round)."""
        started = asyncio.get_running_loop().time()
        if self._found_work and started - self._dispatched_at < self.config.poll_interval:
            return
        self._dispatched_at = started
        while await dispatch(self.db) >= DISPATCH_BATCH:
            pass

    async def _send(self, row: Any) -> _Outcome:
        sent_at = clock.business_now()
        if row.fault == "drop":
            result = sender.AttemptResult(None, 0, None, "dropped (sandbox fault: drop)")
            return _Outcome(row, result, sent_at)
        if row.fault == "delay":
            await asyncio.sleep(FAULT_DELAY.total_seconds())
        body = ((row.prefix or "") + row.body + (row.suffix or "")).encode()
        secrets_ = [row.secret]
        expires = row.previous_secret_expires_at
        if row.previous_secret and expires is not None and expires > clock.business_now():
            secrets_.append(row.previous_secret)
        headers = {str(k): str(v) for k, v in (row.headers or {}).items()}
        headers.update(
            signature_headers(
                secrets_=secrets_,
                body=body,
                event_id=row.event_id,
                # Wall time: receivers check it against their own clock (a replay window).
                timestamp=int(utcnow().timestamp()),
                standard=bool(row.standard_headers),
            )
        )
        headers["X-Thanx-Event"] = row.type
        headers["X-Thanx-Event-Id"] = row.event_id
        async with self._gate(row.endpoint_id):
            result = await sender.post(
                self.client, row.url, body=body, headers=headers, limit=self.config.timeout
            )
            if row.fault == "duplicate":
                await sender.post(
                    self.client, row.url, body=body, headers=headers, limit=self.config.timeout
                )
        return _Outcome(row, result, sent_at)

    def _gate(self, endpoint_id: str) -> asyncio.Semaphore:
        """At most ``per_endpoint`` sends to one endpoint at a time."""
        gate = self.gates.get(endpoint_id)
        if gate is None:
            gate = self.gates[endpoint_id] = asyncio.Semaphore(self.config.per_endpoint)
        return gate

    async def wait(self, seconds: float) -> None:
        """Wait until a send finishes (or ``seconds`` pass), then a little longer for more
        (``LINGER``), and collect the finished ones: outcomes are recorded in batches, not one
        transaction per delivery."""
        if not self.inflight:
            await asyncio.sleep(seconds)
            return
        finished, pending = await asyncio.wait(
            self.inflight, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if finished and pending:
            # Collect the batch: until half of what was in flight has finished, or LINGER.
            deadline = asyncio.get_running_loop().time() + LINGER
            half = max(1, (len(finished) + len(pending)) // 2)
            while pending and len(finished) < half:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                more, pending = await asyncio.wait(
                    pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                finished |= more
        for task in finished:
            del self.inflight[task]
            self.done.append(task.result())

    async def flush(self) -> int:
        if not self.done:
            return 0
        outcomes, self.done = self.done, []
        await record(self.db, self.config, outcomes, rng=self.rng)
        return len(outcomes)

    async def shutdown(self) -> None:
        """Stop: record what finished, cancel the sends in flight and hand their leases back
        (a cancelled send may have reached its receiver: it is sent again, same event id)."""
        for task in self.inflight:
            task.cancel()
        unsent = []
        for task, (_, delivery_id) in self.inflight.items():
            try:
                self.done.append(await task)
            except BaseException:  # cancelled (or failed): handed back below
                unsent.append(delivery_id)
        self.inflight.clear()
        await self.flush()
        if unsent:
            async with self.db.write_sessions() as session, session.begin():
                await repository.release(session, ids=unsent, owner=self.config.owner, now=utcnow())


async def dispatch(db: Database, limit: int = DISPATCH_BATCH) -> int:
    """Expand committed outbox rows into events and queue each for the endpoints subscribed to
    it (at the time of dispatch): ONE transaction, set-based (one DELETE ... RETURNING takes
    the oldest rows out of the outbox, one INSERT of events per row, one read of the endpoints,
    one INSERT of deliveries per due time), so a crash or rollback leaves the rows in the
    outbox, to be expanded again with the same event ids. About ``limit`` events per call (a
    SQLite writer holds the lock that long; more when the last row taken is large). Returns
    the number of events dispatched."""
    async with db.read_sessions() as session:
        if not await repository.any_in_outbox(session):
            return 0
    async with db.write_sessions() as session, session.begin():
        taken = await repository.take_outbox(session, limit)
        if not taken:
            return 0
        endpoints = await repository.endpoints_of(session, {r.merchant_id for r in taken})
        by_merchant: dict[str, list[tuple[str, list[str]]]] = {}
        for endpoint_id, merchant_id, types in endpoints:
            by_merchant.setdefault(merchant_id, []).append((endpoint_id, list(types or ())))
        by_due: dict[Any, list[tuple[str, str]]] = {}
        found = 0
        for row in taken:
            events = json.loads(row.events)
            found += len(events)
            await repository.insert_events(
                session,
                merchant_id=row.merchant_id,
                type=row.type,
                rows=events,
                created_at=row.created_at,
                due=row.deliver_after,
                frame_id=row.frame_id,
            )
            subscribed = [
                endpoint_id
                for endpoint_id, types in by_merchant.get(row.merchant_id, ())
                if not types or row.type in types
            ]
            if subscribed:
                pairs = by_due.setdefault(row.deliver_after, [])
                pairs.extend((event[0], e) for event in events for e in subscribed)
        now = utcnow()
        for due, pairs in by_due.items():
            ids = new_ids(len(pairs))
            await repository.insert_deliveries(
                session,
                rows=[(ids[i], e, ep) for i, (e, ep) in enumerate(pairs)],
                due=due,
                now=now,
            )
    queued = sum(len(pairs) for pairs in by_due.values())
    if queued >= ANALYZE_AFTER:
        # A job's worth of new rows at once: the planner's statistics are refreshed before the
        # claims that follow (stale ones, a table it believes nearly empty, made each claim
        # sort the whole backlog instead of reading the due index in order: EXPLAIN, 15 ms
        # against 1 ms for 4,500 due rows).
        async with db.write_sessions() as session, session.begin():
            await repository.refresh_statistics(session)
    return found


def _reorder(rows: list[Any], rng: random.Random) -> list[Any]:
    faulty = [r for r in rows if r.fault == "reorder"]
    rng.shuffle(faulty)
    it = iter(faulty)
    return [next(it) if r.fault == "reorder" else r for r in rows]


@dataclass
class _Plan:
    """What a batch of outcomes writes: the log rows and each delivery's move."""

    attempts: list[tuple[Any, ...]] = field(default_factory=list)
    delivered: dict[int | None, list[str]] = field(default_factory=dict)
    failed: dict[int | None, list[str]] = field(default_factory=dict)
    retries: list[tuple[str, Any, int | None]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)


def _plan(outcomes: list[_Outcome], rng: random.Random) -> _Plan:
    plan = _Plan()
    ids = new_ids(len(outcomes))
    for i, outcome in enumerate(outcomes):
        row, result = outcome.row, outcome.result
        plan.attempts.append(
            (
                ids[i],
                row.id,
                row.event_id,
                row.endpoint_id,
                row.merchant_id,
                row.type,
                row.attempts,
                result.status_code,
                result.duration_ms,
                result.excerpt,
                result.error,
            )
        )
        if result.ok:
            plan.delivered.setdefault(result.status_code, []).append(row.id)
            continue
        if row.retry_mode and result.status_code == 410:
            plan.gone.add(row.endpoint_id)
            plan.failed.setdefault(result.status_code, []).append(row.id)
            continue
        delay = (
            retry_delay(row.attempts, result.retry_after, rng=rng)
            if row.retry_mode and row.fault != "drop"
            else None
        )
        if delay is None:
            plan.failed.setdefault(result.status_code, []).append(row.id)
        else:
            plan.retries.append((row.id, outcome.sent_at + delay, result.status_code))
    return plan


async def _write(session: AsyncSession, config: DeliveryConfig, plan: _Plan, now: Any) -> None:
    """The log rows (one INSERT) and the deliveries' moves (one UPDATE per outcome group,
    usually one; one per retry), all guarded by the lease owner."""
    if not plan.attempts:
        return
    await repository.insert_attempts(session, rows=plan.attempts, attempted_at=clock.business_now())
    for state, groups in (
        (DeliveryState.DELIVERED, plan.delivered),
        (DeliveryState.FAILED, plan.failed),
    ):
        for status, group in groups.items():
            await repository.finish_deliveries(
                session, ids=group, owner=config.owner, state=state, last_status=status, now=now
            )
    for delivery_id, when, status in plan.retries:
        await repository.retry_later(
            session,
            delivery_id=delivery_id,
            owner=config.owner,
            next_attempt_at=when,
            last_status=status,
            now=now,
        )
    await repository.disable_endpoints(
        session, plan.gone, "the receiver answered 410 Gone", now=now
    )


def _log_disabled(plan: _Plan) -> None:
    for endpoint_id in plan.gone:
        log.warning("webhooks.endpoint_disabled", endpoint_id=endpoint_id, reason="410")


async def record(
    db: Database, config: DeliveryConfig, outcomes: list[_Outcome], *, rng: random.Random
) -> None:
    """The log rows of ``outcomes`` and their deliveries' moves, set-wise, in one transaction
    (what finished without a claim to follow: the last round, a shutdown)."""
    plan = _plan(outcomes, rng)
    async with db.write_sessions() as session, session.begin():
        await _write(session, config, plan, utcnow())
    _log_disabled(plan)


async def drain(db: Database, config: DeliveryConfig, client: http1.Pool | None = None) -> int:
    """Send everything due now, until nothing is due or in flight (tests, benchmarks).
    Returns the number of attempts made."""
    own = client is None
    http = client or config.new_client()
    deliverer = Deliverer(db, config, http)
    total = 0
    try:
        while True:
            total += len(deliverer.done)
            claimed = await deliverer.claim()  # records what finished, too
            if not claimed and not deliverer.inflight:
                break
            await deliverer.wait(config.poll_interval)
        total += await deliverer.flush()
    finally:
        if own:
            await http.aclose()
    return total


class Purged(NamedTuple):
    attempts: int
    events: int
    frames: int


async def purge(db: Database, retention: timedelta) -> Purged:
    """Drop log rows, finished events and unused frames older than ``retention`` (business
    time), in one transaction."""
    before = clock.business_now() - retention
    async with db.write_sessions() as session, session.begin():
        attempts = await repository.purge_attempts(session, before)
        events = await repository.purge_events(session, before)
        frames = await repository.purge_frames(session, before)
    return Purged(attempts, events, frames)
