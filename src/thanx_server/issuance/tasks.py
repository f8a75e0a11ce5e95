"""The issuance worker's work: claim a job, issue its rewards chunk by chunk, finish it.

Crash safety, step by step:

* **Claim** (one short transaction): the oldest ``pending`` job, or a ``processing`` job whose
  lease expired or was released, becomes ``processing`` with this worker as ``lease_owner`` and a
  fresh ``lease_expires_at``; ``attempts`` counts claims. PostgreSQL claims with
  ``FOR UPDATE SKIP LOCKED``, SQLite in a ``BEGIN IMMEDIATE`` session (the switch:
  ``repository._lock_for_claim``).
* **Chunk** (one transaction each): first a guarded UPDATE renews the lease *only if* this worker
  still owns the job and ``processed_count`` is where it left it (0 rows: stop, write nothing).
  Then the chunk's identifiers are resolved set-wise (one query for emails, one for phones, both
  joined to the merchant's memberships), rewards (for issued identifiers) and outcomes (for
  failures and Control holdouts) are each inserted with one statement, and the counters
  advance. Commit. A crash before the commit loses only the chunk, which the next claimer redoes.
* ``UNIQUE(issuance_job_id, identifier_index)`` on rewards and the outcomes' primary key are the
  backstop: even a worker that lost its lease mid-chunk cannot issue an identifier twice.
* Users already served by the job are loaded once per claim (from committed rewards and
  holdouts), so a user named twice gets one reward even when the two identifiers fall in
  different chunks or runs.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from thanx_server.domain.identifiers import match_key_email, normalize_phone
from thanx_server.idempotency import service as idempotency
from thanx_server.issuance import repository
from thanx_server.issuance.magic import JOB_FAILURE_REASON, MAGIC_EMAIL_DOMAIN, magic_outcome
from thanx_server.kit import clock
from thanx_server.kit.db import Database
from thanx_server.kit.ids import new_id, new_ids
from thanx_server.kit.metrics import ISSUANCE_CHUNK_DURATION, ISSUANCE_JOB_DURATION
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.models import Campaign, CampaignVariant, RewardTemplate
from thanx_server.reward.issue import reward_values
from thanx_server.settings import Settings
from thanx_server.user import repository as user_repository
from thanx_server.webhook import outbox

log = structlog.get_logger("thanx.issuance")

# identifier_index, identifier_type, user_id, reward_id, error (repository.OUTCOME_COLUMNS)
OutcomeRow = tuple[int, str, str | None, str | None, str | None]
# id, user_id, identifier_index (repository.REWARD_COLUMNS)
RewardRow = tuple[str, str, int]

USER_NOT_FOUND = "User not found"
DUPLICATE = "Duplicate identifier"
# Already canonical E.164: usable as a lookup key without parsing (parsing costs ~30 us each).
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    owner: str
    lease: timedelta
    chunk_size: int
    max_attempts: int
    # In a sandbox, magic identifiers (issuance/magic.py) force failures.
    sandbox: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, owner: str | None = None) -> WorkerConfig:
        return cls(
            owner=owner or default_owner(),
            lease=timedelta(seconds=settings.worker_lease_seconds),
            chunk_size=settings.issuance_chunk_size,
            max_attempts=settings.worker_max_attempts,
            sandbox=settings.is_sandbox,
        )


def default_owner() -> str:
    """Who holds a lease: host, process and a random suffix (two workers never share one)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{new_id()[:8]}"


@dataclass
class ClaimedJob:
    id: str
    merchant_id: str
    campaign_id: str
    variant_id: str
    total_count: int
    processed_count: int
    success_count: int
    failure_count: int
    attempts: int
    identifiers: list[Any] = field(default_factory=list)


def _never() -> bool:
    return False


async def run_once(
    db: Database,
    config: WorkerConfig,
    *,
    should_stop: Callable[[], bool] = _never,
    clock_loader: clock.ClockLoader | None = None,
) -> bool:
    """Claim and process one job. False when there was nothing to do.

    ``clock_loader`` (a sandbox's worker): the job runs on the sandbox clock as it stood at the
    claim; without one, on the caller's clock (the machine's, or the one a clock move runs due
    work on). Leases use real time; what the job writes (rewards' dates, its own
    ``started_at``/``completed_at``) business time."""
    if clock_loader is None:
        return await _run_once(db, config, should_stop)
    async with db.read_sessions() as session:
        state = await clock_loader(session)
    with clock.using(state):
        return await _run_once(db, config, should_stop)


async def _run_once(db: Database, config: WorkerConfig, should_stop: Callable[[], bool]) -> bool:
    job = await claim(db, config)
    if job is None:
        return False
    with structlog.contextvars.bound_contextvars(job_id=job.id):
        await process(db, config, job, should_stop=should_stop)
    return True


async def drain(
    db: Database, config: WorkerConfig, *, clock_loader: clock.ClockLoader | None = None
) -> int:
    """Process jobs until none is runnable; returns how many were claimed (tests, benchmarks,
    the sandbox clock's advance)."""
    count = 0
    while await run_once(db, config, clock_loader=clock_loader):
        count += 1
    return count


async def step(db: Database, config: WorkerConfig, job_id: str, *, chunks: int) -> bool:
    """A sandbox's step: claim this job (whatever holds it back from workers), run at most
    ``chunks`` chunks, give the lease back. False when the job cannot run (finished, or
    another worker holds it)."""
    job = await claim(db, config, job_id=job_id)
    if job is None:
        return False
    with structlog.contextvars.bound_contextvars(job_id=job.id):
        await process(db, config, job, max_chunks=chunks)
    return True


async def claim(
    db: Database, config: WorkerConfig, *, job_id: str | None = None
) -> ClaimedJob | None:
    # Look before locking: on SQLite the claim's BEGIN IMMEDIATE takes the database's write lock,
    # which an idle worker polling every second would otherwise take from the API's writers.
    if job_id is None:
        async with db.read_sessions() as session:
            if not await repository.any_runnable(session, utcnow()):
                return None
    async with db.write_sessions() as session, session.begin():
        now = utcnow()
        row = await repository.claim_next(
            session,
            owner=config.owner,
            now=now,
            lease_until=now + config.lease,
            started_at=clock.business_now(),
            job_id=job_id,
        )
    if row is None:
        return None
    job = ClaimedJob(
        id=row.id,
        merchant_id=row.merchant_id,
        campaign_id=row.campaign_id,
        variant_id=row.variant_id,
        total_count=row.total_count,
        processed_count=row.processed_count,
        success_count=row.success_count,
        failure_count=row.failure_count,
        attempts=row.attempts,
    )
    log.info(
        "issuance.job_claimed",
        job_id=job.id,
        owner=config.owner,
        attempts=job.attempts,
        resume_at=job.processed_count,
        total=job.total_count,
    )
    return job


async def process(
    db: Database,
    config: WorkerConfig,
    job: ClaimedJob,
    *,
    should_stop: Callable[[], bool] = _never,
    max_chunks: int | None = None,
) -> None:
    started = time.perf_counter()
    if job.attempts > config.max_attempts:
        await _fail(db, config, job, f"gave up after {config.max_attempts} attempts")
        return
    async with db.read_sessions() as session:
        campaign, variant, template = await repository.issue_context(
            session, campaign_id=job.campaign_id, variant_id=job.variant_id
        )
        fault = _context_fault(job, campaign, variant, template)
        if fault is None:
            job.identifiers = await repository.job_identifiers(session, job.id)
            issued = await repository.issued_user_ids(session, job.id)
    if fault is not None:
        await _fail(db, config, job, fault)
        return
    assert campaign is not None
    assert variant is not None
    if config.sandbox and _fails_job(job.identifiers):
        await _fail(db, config, job, JOB_FAILURE_REASON)
        return
    chunk = _Chunker(job, campaign, variant, template, issued, sandbox=config.sandbox)
    ran = 0
    while job.processed_count < job.total_count:
        if should_stop() or (max_chunks is not None and ran >= max_chunks):
            await _release(db, config, job)
            return
        ran += 1
        end = min(job.processed_count + config.chunk_size, job.total_count)
        chunk_started = time.perf_counter()
        try:
            held = await chunk.run(db, config, start=job.processed_count, end=end)
        except IntegrityError:
            # Another worker wrote these identifiers: it owns the job now.
            held = False
        if not held:
            log.warning("issuance.lease_lost", job_id=job.id, at=job.processed_count)
            return
        job.processed_count = end
        ISSUANCE_CHUNK_DURATION.observe(time.perf_counter() - chunk_started)
        log.info("issuance.chunk_done", job_id=job.id, processed=end, total=job.total_count)
    if not chunk.finished:
        async with db.write_sessions() as session, session.begin():
            if not await repository.complete(
                session, job_id=job.id, owner=config.owner, now=clock.business_now()
            ):
                log.warning("issuance.lease_lost", job_id=job.id, at=job.processed_count)
                return
            await _batch_completed(session, job)
    ISSUANCE_JOB_DURATION.observe(time.perf_counter() - started)
    log.info(
        "issuance.job_completed",
        job_id=job.id,
        success=job.success_count + chunk.successes,
        failure=job.failure_count + chunk.failures,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _context_fault(
    job: ClaimedJob,
    campaign: Campaign | None,
    variant: CampaignVariant | None,
    template: RewardTemplate | None,
) -> str | None:
    """A job-level fault: what it issues no longer exists."""
    if campaign is None:
        return f"campaign '{job.campaign_id}' no longer exists"
    if variant is None or variant.campaign_id != campaign.id:
        return f"variant '{job.variant_id}' no longer exists in campaign '{campaign.id}'"
    if variant.reward_template_id is not None and template is None:
        return f"reward template '{variant.reward_template_id}' no longer exists"
    return None


async def _fail(db: Database, config: WorkerConfig, job: ClaimedJob, reason: str) -> None:
    async with db.write_sessions() as session, session.begin():
        done = await repository.fail(
            session, job_id=job.id, owner=config.owner, reason=reason, now=clock.business_now()
        )
        if done:
            await _batch_completed(session, job)
    if done:
        log.warning("issuance.job_failed", job_id=job.id, reason=reason)


async def _release(db: Database, config: WorkerConfig, job: ClaimedJob) -> None:
    async with db.write_sessions() as session, session.begin():
        await repository.release(session, job_id=job.id, owner=config.owner, now=utcnow())
        # Another worker (of another process: this one is stopping) resumes it now.
        await repository.wake_workers(session)
    log.info("issuance.job_released", job_id=job.id, at=job.processed_count)


async def _batch_completed(session: Any, job: ClaimedJob) -> None:
    """``reward_batch.completed``, in the transaction that finishes the job (the outbox)."""
    row = await repository.job_row(session, job.id)
    if not job.identifiers:
        job.identifiers = await repository.job_identifiers(session, job.id)
    await outbox.batch_completed(
        session,
        job=row,
        identifiers=job.identifiers,
        failures=await repository.failures(session, job.id),
        now=clock.business_now(),
    )


def phone_key(value: str) -> str | None:
    value = value.strip()
    if _E164.fullmatch(value):
        return value
    return normalize_phone(value)


class _Chunker:
    """Processes chunks of one claimed job; remembers which users the job already served."""

    def __init__(
        self,
        job: ClaimedJob,
        campaign: Campaign,
        variant: CampaignVariant,
        template: RewardTemplate | None,
        issued: set[str],
        *,
        sandbox: bool = False,
    ) -> None:
        self.sandbox = sandbox
        self.job = job
        self.campaign = campaign
        self.variant = variant
        self.template = template
        self.issued = issued
        self.successes = 0
        self.failures = 0
        self.finished = False

    async def run(self, db: Database, config: WorkerConfig, *, start: int, end: int) -> bool:
        job = self.job
        async with db.write_sessions() as session, session.begin():
            now = utcnow()
            if not await repository.hold_lease(
                session,
                job_id=job.id,
                owner=config.owner,
                processed_count=start,
                now=now,
                lease_until=now + config.lease,
            ):
                return False
            business = clock.business_now()
            keys = [_key(job.identifiers[i]) for i in range(start, end)]
            members = MerchantScope.one(job.merchant_id)
            by_email = await user_repository.members_by_email(
                session, members, (k for t, k in keys if t == "email" and k)
            )
            by_phone = await _members_by_phone(session, members, keys)
            outcomes, rewards, served = self._outcomes(start, keys, by_email, by_phone)
            if rewards:
                assert self.template is not None
                shared = reward_values(self.campaign, self.template, self.variant.id, now=business)
                shared["issuance_job_id"] = job.id
                await repository.insert_rewards(session, shared=shared, rows=rewards)
                await outbox.rewards_issued(
                    session,
                    job_id=job.id,
                    merchant_id=job.merchant_id,
                    campaign=self.campaign,
                    variant=self.variant,
                    available_at=shared["available_at"],
                    rewards=[(rid, uid, i, keys[i - start][0]) for rid, uid, i in rewards],
                    now=clock.business_now(),
                )
            await repository.insert_outcomes(session, job_id=job.id, rows=outcomes)
            failures = sum(1 for o in outcomes if o[4] is not None)
            successes = (end - start) - failures
            finished = end == job.total_count
            await repository.advance(
                session,
                job_id=job.id,
                processed_count=end,
                successes=successes,
                failures=failures,
                finished=finished,
                now=business,
            )
            if finished:
                await _batch_completed(session, job)
        # Only now, with the chunk committed, is it part of the job's history.
        self.issued |= served
        self.successes += successes
        self.failures += failures
        self.finished = finished
        return True

    def _outcomes(
        self,
        start: int,
        keys: list[tuple[str, str | None]],
        by_email: dict[str, str],
        by_phone: dict[str, str],
    ) -> tuple[list[OutcomeRow], list[RewardRow], set[str]]:
        """Decide each identifier of the chunk: reward, holdout, or failure (pure, no I/O).

        An issued reward is its own record of the identifier (it carries the job and the index);
        an outcome row is written for every identifier that got no reward: a failure, or a
        Control holdout. So every index of a job is in exactly one of the two tables, and the
        per-row foreign-key checks of a second 10,000-row insert are not paid (docs/DECISIONS.md).
        """
        issues_rewards = self.template is not None
        served: set[str] = set()
        outcomes: list[OutcomeRow] = []
        issued: list[tuple[str, int]] = []  # user id, identifier index
        for offset, (kind, key) in enumerate(keys):
            index = start + offset
            magic = magic_outcome(kind, key) if self.sandbox else None
            if magic == "duplicate":
                outcomes.append((index, kind, None, None, DUPLICATE))
                continue
            if magic is not None:
                outcomes.append((index, kind, None, None, USER_NOT_FOUND))
                continue
            user_id = (by_email if kind == "email" else by_phone).get(key) if key else None
            if user_id is None:
                outcomes.append((index, kind, None, None, USER_NOT_FOUND))
            elif user_id in self.issued or user_id in served:
                outcomes.append((index, kind, user_id, None, DUPLICATE))
            else:
                served.add(user_id)
                if issues_rewards:
                    issued.append((user_id, index))
                else:  # a Control variant: the holdout is recorded, nothing is issued
                    outcomes.append((index, kind, user_id, None, None))
        return outcomes, _with_ids(issued), served


def _with_ids(issued: list[tuple[str, int]]) -> list[RewardRow]:
    """New reward ids for ``issued`` (in identifier order), ascending with the user id: the rows
    go into ``rewards`` in that order (``repository.insert_rewards``), so its primary key and its
    ``(user_id, state, created_at)`` index are written in key order, not at random positions
    (on SQLite ~40% of the chunk's INSERT, docs/PERFORMANCE.md i17job). Ids stay random."""
    ids = sorted(new_ids(len(issued)))
    by_user = sorted(range(len(issued)), key=lambda i: issued[i][0])
    rows: list[RewardRow] = [("", "", 0)] * len(issued)
    for rank, i in enumerate(by_user):
        user_id, index = issued[i]
        rows[i] = (ids[rank], user_id, index)
    return rows


def _fails_job(identifiers: list[Any]) -> bool:
    """A sandbox job naming a magic ``job-fails`` identifier (a cheap look first: most are not
    near the magic domain or phone range)."""
    for identifier in identifiers:
        value = str(identifier.get("value", ""))
        if (MAGIC_EMAIL_DOMAIN in value.lower() or "555" in value) and magic_outcome(
            *_key(identifier)
        ) == "job_fails":
            return True
    return False


def _key(identifier: Any) -> tuple[str, str | None]:
    kind = str(identifier.get("type", ""))
    value = str(identifier.get("value", ""))
    if kind == "email":
        return kind, match_key_email(value) or None
    if kind == "phone":
        return kind, phone_key(value)
    return kind, None


async def _members_by_phone(
    session: Any, members: MerchantScope, keys: list[tuple[str, str | None]]
) -> dict[str, str]:
    phones = {k for t, k in keys if t == "phone" and k}
    found = await user_repository.members_by_phone(session, members, phones)
    # A canonical-looking key that found nobody may still normalise differently (a national
    # prefix after the country code, say): parse those, and look the changed ones up once more.
    retry = {}
    for key in phones - found.keys():
        normalized = normalize_phone(key)
        if normalized is not None and normalized != key:
            retry[normalized] = key
    if retry:
        again = await user_repository.members_by_phone(session, members, retry)
        for normalized, user_id in again.items():
            found[retry[normalized]] = user_id
    return found


async def purge_idempotency_keys(db: Database) -> int:
    async with db.write_sessions() as session, session.begin():
        return await idempotency.purge_expired(session, utcnow())
