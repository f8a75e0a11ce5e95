"""Workers as real processes on real (committing) databases: races, crashes, concurrency.

* Two identical idempotent requests racing create exactly one job (both databases).
* A ``thanx-server worker`` killed with SIGKILL mid-job: a second worker finishes the job with
  every identifier processed once (both databases; the contract's target is PostgreSQL).
* Four worker processes drain twenty jobs on PostgreSQL without processing anything twice.

Every process started here is killed in a ``finally``; logs go to files, never to pipes that
could fill up and stall a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text

from tests.factories import Credential, Factory
from thanx_server.app import create_app
from thanx_server.issuance import repository as issuance_repository
from thanx_server.issuance import tasks
from thanx_server.kit.db import Database, DbTimeouts, create_engine
from thanx_server.kit.ids import new_ids
from thanx_server.kit.time import utcnow
from thanx_server.models import IssuanceJob, IssuanceOutcome, Membership, Reward, User
from thanx_server.settings import Settings


@dataclass
class LiveWorld:
    database: Database
    client: httpx.AsyncClient
    cred: Credential
    merchant_id: str
    campaign_id: str
    treatment: str
    control: str
    emails: list[str]
    phones: list[str]

    async def issue(self, identifiers: list[dict[str, str]], variant_id: str | None = None) -> str:
        response = await self.client.post(
            "/partner/campaigns/issue",
            json={
                "merchant_id": self.merchant_id,
                "campaign_id": self.campaign_id,
                "variant_id": variant_id or self.treatment,
                "identifiers": identifiers,
            },
            headers=self.cred.headers(),
        )
        assert response.status_code == 202, response.text
        job_id: str = response.json()["issuance_job"]["id"]
        return job_id

    async def job(self, job_id: str) -> Any:
        async with self.database.read_sessions() as session:
            return (
                await session.execute(
                    select(
                        IssuanceJob.state, IssuanceJob.processed_count, IssuanceJob.total_count,
                        IssuanceJob.success_count, IssuanceJob.failure_count,
                        IssuanceJob.attempts, IssuanceJob.lease_owner,
                    ).where(IssuanceJob.id == job_id)
                )
            ).one()  # fmt: skip

    async def indexes_covered(self, job_id: str) -> int:
        """Distinct identifier indexes recorded by the job's rewards and outcomes together."""
        async with self.database.read_sessions() as session:
            union = (
                select(Reward.identifier_index.label("i")).where(Reward.issuance_job_id == job_id)
            ).union(
                select(IssuanceOutcome.identifier_index.label("i")).where(
                    IssuanceOutcome.job_id == job_id
                )
            )
            return await session.scalar(select(func.count()).select_from(union.subquery())) or 0

    async def counts(self, job_id: str) -> tuple[int, int, int, int]:
        """Rewards, distinct rewarded identifiers, distinct rewarded users, outcomes."""
        async with self.database.read_sessions() as session:
            rewards = (
                await session.execute(
                    select(
                        func.count(),
                        func.count(func.distinct(Reward.identifier_index)),
                        func.count(func.distinct(Reward.user_id)),
                    ).where(Reward.issuance_job_id == job_id)
                )
            ).one()
            outcomes = await session.scalar(
                select(func.count()).where(IssuanceOutcome.job_id == job_id)
            )
        return rewards[0], rewards[1], rewards[2], outcomes or 0


@pytest.fixture
async def live(fresh_db_url: str, tmp_path: Path) -> AsyncIterator[LiveWorld]:
    """A committing database with one merchant, 2,000 members, a campaign and a credential."""
    database = Database.from_engine(create_engine(fresh_db_url))
    members = 2000
    emails = [f"member{i}@example.com" for i in range(members)]
    phones = [f"+1415{i:07d}" for i in range(members)]
    async with database.write_sessions() as session, session.begin():
        factory = Factory(session)
        merchant = await factory.merchant()
        cred = await factory.partner([merchant], scopes=["rewards.issue"])
        campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
        now = datetime.now(UTC)
        ids = new_ids(members)
        await session.execute(
            insert(User),
            [{"id": i, "email": e, "phone": p, "created_at": now, "updated_at": now}
             for i, e, p in zip(ids, emails, phones, strict=True)],
        )  # fmt: skip
        await session.execute(
            insert(Membership),
            [{"user_id": i, "merchant_id": merchant.id, "joined_at": now, "tier": "bronze",
              "points_balance": 0} for i in ids],
        )  # fmt: skip
        merchant_id, campaign_id = merchant.id, campaign.campaign.id
        treatment, control = campaign.variants[0].id, campaign.variants[1].id
    settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://live") as client:
        yield LiveWorld(database, client, cred, merchant_id, campaign_id, treatment, control,
                        emails, phones)  # fmt: skip
    await database.dispose()


def mixed_identifiers(world: LiveWorld, total: int) -> tuple[list[dict[str, str]], int]:
    """``total`` identifiers: members by email (some upper-cased) and by phone, repeats of the
    same members, and unknown emails. Returns them and how many distinct members they name."""
    out: list[dict[str, str]] = []
    named: set[int] = set()
    i = 0
    while len(out) < total:
        kind = i % 5
        member = (i * 7) % len(world.emails)
        if kind in (0, 1):
            value = world.emails[member]
            out.append({"type": "email", "value": value.upper() if kind else value})
            named.add(member)
        elif kind == 2:
            out.append({"type": "phone", "value": world.phones[member]})
            named.add(member)
        else:
            out.append({"type": "email", "value": f"stranger{i}@example.com"})
        i += 1
    return out, len(named)


# --- idempotency race --------------------------------------------------------------------------


async def test_identical_requests_racing_create_exactly_one_job(live: LiveWorld) -> None:
    body = {
        "merchant_id": live.merchant_id,
        "campaign_id": live.campaign_id,
        "variant_id": live.treatment,
        "identifiers": [{"type": "email", "value": e} for e in live.emails[:50]],
    }
    headers = live.cred.headers(**{"X-Idempotency-Key": "race-1"})
    responses = await asyncio.gather(
        *(live.client.post("/partner/campaigns/issue", json=body, headers=headers)
          for _ in range(6))
    )  # fmt: skip
    assert {r.status_code for r in responses} == {202}
    assert len({r.text for r in responses}) == 1
    async with live.database.read_sessions() as session:
        jobs = await session.scalar(
            select(func.count()).where(IssuanceJob.campaign_id == live.campaign_id)
        )
    assert jobs == 1


# --- worker processes --------------------------------------------------------------------------


class Workers:
    """``thanx-server worker`` subprocesses; all of them are killed when the test ends."""

    def __init__(self, db_url: str, workdir: Path, **settings: str) -> None:
        self.env = {
            **os.environ,
            "THANX_DATABASE_URL": db_url,
            "THANX_DATA_DIR": str(workdir),
            "THANX_LOG_FORMAT": "json",
            "THANX_WORKER_POLL_INTERVAL": "0.05",
            **settings,
        }
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"worker{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "thanx_server", "worker", "--no-migrate"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for path in sorted(self.workdir.glob("worker*.log")):
            for line in path.read_text().splitlines():
                if line.startswith("{"):
                    event = json.loads(line)
                    if event.get("event") == name:
                        found.append(event)
        return found

    def stop_all(self) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=20))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        return codes

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def workers(db_url: str, workdir: Path, **settings: str) -> Iterator[Workers]:
    pool = Workers(db_url, workdir, **settings)
    try:
        yield pool
    finally:
        pool.kill_all()


async def wait_for(predicate: Any, *, within: float, interval: float = 0.005) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {predicate.__name__}")
        await asyncio.sleep(interval)


@pytest.mark.live
async def test_worker_killed_mid_job_is_replaced_without_double_issue(
    live: LiveWorld, fresh_db_url: str, tmp_path: Path
) -> None:
    identifiers, members_named = mixed_identifiers(live, 10_000)
    job_id = await live.issue(identifiers)
    settings = {"THANX_ISSUANCE_CHUNK_SIZE": "250", "THANX_WORKER_LEASE_SECONDS": "1"}
    with workers(fresh_db_url, tmp_path, **settings) as pool:
        first = pool.start()

        async def started() -> bool:
            return bool((await live.job(job_id)).processed_count > 0)

        await wait_for(started, within=60)
        first.kill()  # SIGKILL: no chance to release the lease or finish the chunk
        first.wait(timeout=10)
        at_kill = await live.job(job_id)
        assert 0 < at_kill.processed_count < at_kill.total_count, "killed too late to prove much"
        assert at_kill.state == "processing"

        pool.start()

        async def completed() -> bool:
            return bool((await live.job(job_id)).state == "completed")

        await wait_for(completed, within=60, interval=0.05)
        assert pool.stop_all()[1] == 0  # SIGTERM: a clean exit

    job = await live.job(job_id)
    assert job.processed_count == job.total_count == 10_000
    assert job.success_count + job.failure_count == job.total_count
    assert job.success_count == members_named
    assert job.attempts == 2
    assert job.lease_owner is None
    rewards, distinct_indexes, distinct_users, outcomes = await live.counts(job_id)
    assert rewards == distinct_indexes == distinct_users == job.success_count
    assert outcomes == job.failure_count
    assert await live.indexes_covered(job_id) == job.total_count


@pytest.mark.live
async def test_four_workers_drain_twenty_jobs_without_doing_anything_twice(
    live: LiveWorld, fresh_db_url: str, tmp_path: Path, db_kind: str
) -> None:
    if db_kind != "postgresql":
        pytest.skip("many workers on one database is the PostgreSQL deployment")
    with workers(fresh_db_url, tmp_path, THANX_ISSUANCE_CHUNK_SIZE="100") as pool:
        for _ in range(4):
            pool.start()

        async def all_started() -> bool:
            return len(pool.events("worker.started")) == 4

        await wait_for(all_started, within=60, interval=0.05)
        expected: dict[str, int] = {}
        for n in range(20):
            identifiers, named = mixed_identifiers(live, 200 + n * 5)
            control = n % 5 == 4
            job_id = await live.issue(identifiers, live.control if control else None)
            expected[job_id] = named

        async def all_done() -> bool:
            async with live.database.read_sessions() as session:
                left = await session.scalar(
                    select(func.count()).where(IssuanceJob.state != "completed")
                )
            return left == 0

        await wait_for(all_done, within=120, interval=0.05)
        assert pool.stop_all() == [0, 0, 0, 0]

    claims = pool.events("issuance.job_claimed")
    assert sorted(c["job_id"] for c in claims) == sorted(expected)  # each job claimed once
    assert len({c["owner"] for c in claims}) >= 2  # the jobs really were shared out
    for n, (job_id, named) in enumerate(expected.items()):
        job = await live.job(job_id)
        assert job.attempts == 1
        assert job.lease_owner is None
        assert job.processed_count == job.total_count
        assert job.success_count == named
        assert job.success_count + job.failure_count == job.total_count
        rewards, distinct_indexes, distinct_users, outcomes = await live.counts(job_id)
        control = n % 5 == 4  # every fifth job is a Control holdout: outcomes, no rewards
        assert rewards == distinct_indexes == distinct_users == (0 if control else named)
        assert outcomes == job.failure_count + (named if control else 0)
        assert await live.indexes_covered(job_id) == job.total_count


async def test_the_embedded_worker_runs_with_the_app_and_a_committed_job_wakes_it(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """The app's lifespan runs the embedded worker, which polls every 60 s here: a job done
    within 30 s was started by its commit."""
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        async with database.write_sessions() as session, session.begin():
            factory = Factory(session)
            merchant = await factory.merchant()
            await factory.member(merchant, email="jane@example.com")
            cred = await factory.partner([merchant], scopes=["rewards.issue"])
            campaign = await factory.campaign(merchant)
        settings = Settings(
            data_dir=tmp_path, embedded_worker=True, worker_poll_interval=60,
            rate_limit_enabled=False,
        )  # fmt: skip
        app = create_app(settings, database=database)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://embedded") as client,
        ):

            async def issue() -> str:
                response = await client.post(
                    "/partner/campaigns/issue",
                    json={"merchant_id": merchant.id, "campaign_id": campaign.campaign.id,
                          "variant_id": campaign.variants[0].id,
                          "identifiers": [{"type": "email", "value": "jane@example.com"}]},
                    headers=cred.headers(),
                )  # fmt: skip
                assert response.status_code == 202
                return str(response.json()["issuance_job"]["id"])

            async def finished(job_id: str) -> None:
                path = f"/partner/issuance_jobs/{job_id}"

                async def completed() -> bool:
                    answer = await client.get(path, headers=cred.headers())
                    job = answer.json()["issuance_job"]
                    return bool(job["state"] == "completed" and job["success_count"] == 1)

                await wait_for(completed, within=30, interval=0.02)

            # The first job may meet the worker's first look; by the second, it waits to poll.
            await finished(await issue())
            await asyncio.sleep(0.5)
            await finished(await issue())
    finally:
        await database.dispose()


@pytest.mark.live
async def test_a_job_committed_elsewhere_wakes_an_idle_worker_process(
    live: LiveWorld, fresh_db_url: str, tmp_path: Path, db_kind: str
) -> None:
    if db_kind != "postgresql":
        pytest.skip("across processes the wake-up is PostgreSQL's NOTIFY; SQLite's polls")
    with workers(fresh_db_url, tmp_path, THANX_WORKER_POLL_INTERVAL="60") as pool:
        pool.start()

        async def started() -> bool:
            return len(pool.events("worker.started")) == 1

        await wait_for(started, within=60, interval=0.05)
        await asyncio.sleep(1)  # past its first look: its next poll is 60 s away
        identifiers, named = mixed_identifiers(live, 50)
        job_id = await live.issue(identifiers)

        async def completed() -> bool:
            return bool((await live.job(job_id)).state == "completed")

        await wait_for(completed, within=30, interval=0.05)
        assert (await live.job(job_id)).success_count == named
        assert pool.stop_all() == [0]


# --- a frozen worker (issue 12) ----------------------------------------------------------------


async def test_a_frozen_workers_row_lock_is_released_and_the_job_resumes_elsewhere(
    live: LiveWorld, fresh_db_url: str, db_kind: str
) -> None:
    """A worker frozen mid-chunk (SIGSTOP) keeps its chunk transaction open, and with it the job
    row's lock, so ``FOR UPDATE SKIP LOCKED`` skips the job even after its lease expired. The
    server ends such a session after THANX_DB_IDLE_IN_TRANSACTION_TIMEOUT: the lock goes, and
    another worker reclaims and finishes the job. The frozen worker is played in process: it
    claims the job and opens its chunk transaction exactly as ``tasks.process`` does (the
    guarded lease UPDATE that locks the row), then sends nothing more."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has no row locks; a frozen writer is its busy timeout's business")
    identifiers, members_named = mixed_identifiers(live, 40)
    job_id = await live.issue(identifiers)
    frozen_db = Database.from_engine(
        create_engine(fresh_db_url, pool_size=1, timeouts=DbTimeouts(idle_in_transaction=1.0))
    )
    lease = tasks.WorkerConfig(
        owner="frozen", lease=timedelta(seconds=0.3), chunk_size=10, max_attempts=5
    )
    claimed = await tasks.claim(frozen_db, lease)
    assert claimed is not None
    assert claimed.id == job_id
    frozen = frozen_db.write_sessions()
    await frozen.begin()
    now = utcnow()
    assert await issuance_repository.hold_lease(
        frozen, job_id=job_id, owner="frozen", processed_count=0, now=now,
        lease_until=now + timedelta(seconds=0.3),
    )  # fmt: skip
    try:
        rescuer = tasks.WorkerConfig(
            owner="rescuer", lease=timedelta(seconds=30), chunk_size=10, max_attempts=5
        )
        await asyncio.sleep(0.4)  # the lease has expired, but the row is still locked
        assert await tasks.run_once(live.database, rescuer) is False

        started = time.monotonic()

        async def rescued() -> bool:
            await tasks.run_once(live.database, rescuer)
            return bool((await live.job(job_id)).state == "completed")

        await wait_for(rescued, within=10, interval=0.1)
        assert time.monotonic() - started < 5
    finally:
        with contextlib.suppress(Exception):  # the server has ended this session
            await frozen.close()
        await frozen_db.dispose()
    job = await live.job(job_id)
    assert job.attempts == 2
    assert job.processed_count == job.total_count == 40
    assert job.success_count == members_named
    rewards, distinct_indexes, distinct_users, outcomes = await live.counts(job_id)
    assert rewards == distinct_indexes == distinct_users == job.success_count
    assert outcomes == job.failure_count


@pytest.mark.live
async def test_a_sigstopped_worker_process_loses_its_lock_and_the_job_finishes_elsewhere(
    live: LiveWorld, fresh_db_url: str, tmp_path: Path, db_kind: str
) -> None:
    """The real thing: ``thanx-server worker`` frozen with SIGSTOP inside its (one, 10,000
    identifier) chunk transaction. PostgreSQL ends the frozen session after
    THANX_DB_IDLE_IN_TRANSACTION_TIMEOUT, the row lock goes, and a second worker finishes the
    job; the frozen one, resumed, writes nothing."""
    if db_kind != "postgresql":
        pytest.skip("SQLite has no row locks; a frozen writer is its busy timeout's business")
    identifiers, members_named = mixed_identifiers(live, 10_000)
    job_id = await live.issue(identifiers)
    settings = {
        "THANX_ISSUANCE_CHUNK_SIZE": "10000",
        "THANX_WORKER_LEASE_SECONDS": "1",
        "THANX_DB_IDLE_IN_TRANSACTION_TIMEOUT": "2",
    }

    async def row_locked() -> bool:
        """Whether another session holds the job row's lock (what a claim would skip)."""
        async with live.database.read_sessions() as session:
            free = await session.scalar(
                text("SELECT id FROM issuance_jobs WHERE id = :id FOR UPDATE SKIP LOCKED"),
                {"id": job_id},
            )
        return free is None

    with workers(fresh_db_url, tmp_path, **settings) as pool:
        first = pool.start()

        async def chunk_open() -> bool:
            # The claim committed (its own short transaction) and the row is locked again: by
            # the chunk's lease renewal.
            return (await live.job(job_id)).state == "processing" and await row_locked()

        async def worker_transactions() -> list[str]:
            """The states of the other sessions inside a transaction (the frozen worker's)."""
            async with live.database.read_sessions() as session:
                rows = await session.scalars(
                    text(
                        "SELECT state FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                    )
                )
                return list(rows)

        # What the idle-in-transaction timeout promises to end is a session that waits for its
        # frozen client. A worker frozen while its backend is still busy with it (running a
        # statement, or blocked writing a result the frozen client does not read) is not idle
        # and keeps its lock until the client resumes or its connection dies (DECISIONS,
        # "Issuance workers"): freeze at an idle moment, and try again if the signal landed
        # in a busy one.
        for _attempt in range(20):
            await wait_for(chunk_open, within=60, interval=0.002)
            first.send_signal(signal.SIGSTOP)
            await asyncio.sleep(0.2)
            states = await worker_transactions()
            if states and all(state == "idle in transaction" for state in states):
                break
            first.send_signal(signal.SIGCONT)
        else:
            pytest.fail("never caught the worker idle inside its chunk")
        try:
            assert await row_locked(), "froze outside the chunk: proves nothing"
            assert (await live.job(job_id)).processed_count == 0
            pool.start()

            async def completed() -> bool:
                return bool((await live.job(job_id)).state == "completed")

            started = time.monotonic()
            await wait_for(completed, within=60, interval=0.1)
            rescued_in = time.monotonic() - started
        finally:
            first.send_signal(signal.SIGCONT)
        pool.stop_all()

    assert rescued_in < 30
    job = await live.job(job_id)
    assert job.attempts == 2
    assert job.processed_count == job.total_count == 10_000
    assert job.success_count == members_named
    rewards, distinct_indexes, distinct_users, outcomes = await live.counts(job_id)
    assert rewards == distinct_indexes == distinct_users == job.success_count
    assert outcomes == job.failure_count
