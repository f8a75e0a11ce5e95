"""Benchmark: revoking an issuance job that issued 10,000 rewards, inside the request.

    .venv/bin/python -m bench.revoke [--runs 5] [--only sqlite|postgresql]

Why it exists: revocation has no background state (no ``revoking``): the request moves the job and
revokes its rewards with one set-based UPDATE, then answers 200 (docs/DECISIONS.md). This measures
what that costs at the contract's maximum job size. For each database (a throwaway SQLite file, or
a throwaway PostgreSQL database at ``THANX_BENCH_POSTGRES_URL``) it seeds 10,000 members, then per
run writes a ``completed`` job holding one ``available`` reward per member and times
``POST /partner/issuance_jobs/{id}/revoke`` through the real app (commit included), and, on a
second identical job, the reward UPDATE alone. Results are printed, not written anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

from bench.issuance import _create_database, _drop_database
from thanx_server.app import create_app
from thanx_server.domain.states import JobState, RewardState
from thanx_server.issuance import repository as issuance_repository
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.ids import new_id, new_ids
from thanx_server.merchant import service as merchant_service
from thanx_server.models import IssuanceJob, Membership, Reward, User
from thanx_server.partner import service as partner_service
from thanx_server.settings import Settings

REWARDS = 10_000


async def _seed(database: Database) -> tuple[str, list[str], dict[str, str]]:
    now = datetime.now(UTC)
    async with database.write_sessions() as session, session.begin():
        merchant = await merchant_service.create_merchant(
            session, name="Bench", handle="bench", time_zone="America/Los_Angeles"
        )
        issued = await partner_service.create_partner(
            session, name="Bench", scopes=["rewards.issue"], merchant_ids=[merchant.id]
        )
        users = new_ids(REWARDS)
        await session.execute(
            insert(User),
            [{"id": u, "email": f"m{i}@example.com", "created_at": now, "updated_at": now}
             for i, u in enumerate(users)],
        )  # fmt: skip
        await session.execute(
            insert(Membership),
            [{"user_id": u, "merchant_id": merchant.id, "joined_at": now, "tier": "bronze",
              "points_balance": 0} for u in users],
        )  # fmt: skip
    headers = {
        "Authorization": f"Bearer {issued.access_token}",
        "X-ClientId": issued.client_id,
        "Accept-Version": "v4.0",
    }
    return merchant.id, users, headers


async def _completed_job(database: Database, merchant_id: str, users: list[str]) -> str:
    """A completed job of REWARDS identifiers, each with its available reward."""
    now = datetime.now(UTC)
    job_id = new_id()
    async with database.write_sessions() as session, session.begin():
        session.add(
            IssuanceJob(
                id=job_id, merchant_id=merchant_id, campaign_id="bench", variant_id="bench",
                state=JobState.COMPLETED, identifiers=[], total_count=REWARDS,
                processed_count=REWARDS, success_count=REWARDS, failure_count=0, attempts=1,
                created_at=now, updated_at=now, started_at=now, completed_at=now,
            )
        )  # fmt: skip
        await session.flush()
        await session.execute(
            insert(Reward),
            [{"id": r, "user_id": u, "merchant_id": merchant_id, "campaign_id": "bench",
              "variant_id": "bench", "issuance_job_id": job_id, "identifier_index": i,
              "state": RewardState.AVAILABLE, "earn_type": "campaign", "redeem": {},
              "images": {}, "available_at": now, "retire_at": now + timedelta(days=30),
              "created_at": now, "updated_at": now}
             for i, (r, u) in enumerate(zip(new_ids(REWARDS), users, strict=True))],
        )  # fmt: skip
    return job_id


async def bench(kind: str, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url, pg_name = await _create_database(kind, Path(tmp))
        try:
            database = Database.from_engine(create_engine(url))
            await migrate.upgrade(database.engine)
            merchant_id, users, headers = await _seed(database)
            app = create_app(
                Settings(data_dir=Path(tmp), embedded_worker=False, log_level="WARNING",
                         rate_limit_enabled=False),
                database=database,
            )  # fmt: skip
            requests, updates = [], []
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for _ in range(runs + 1):  # the first run warms imports, caches and the pool
                    job_id = await _completed_job(database, merchant_id, users)
                    started = time.perf_counter()
                    response = await client.post(
                        f"/partner/issuance_jobs/{job_id}/revoke", headers=headers
                    )
                    requests.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text
                    async with database.read_sessions() as session:
                        left = await session.scalar(
                            select(func.count()).where(
                                Reward.issuance_job_id == job_id,
                                Reward.state != RewardState.REVOKED,
                            )
                        )
                    assert left == 0, left
                    job_id = await _completed_job(database, merchant_id, users)
                    async with database.write_sessions() as session, session.begin():
                        started = time.perf_counter()
                        count = await issuance_repository.revoke_rewards(
                            session, job_id, datetime.now(UTC)
                        )
                        updates.append((time.perf_counter() - started) * 1000)
                    assert count == REWARDS, count
            await database.dispose()
            return {"kind": kind, "request_ms": requests[1:], "update_ms": updates[1:]}
        finally:
            await _drop_database(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    print(f"revoking a job of {REWARDS:,} available rewards, {args.runs} runs")
    print("| database | POST .../revoke (ms, median) | worst | reward UPDATE alone (ms, median) |")
    print("|---|---|---|---|")
    for kind in kinds:
        r = asyncio.run(bench(kind, args.runs))
        print(
            f"| {kind} | {statistics.median(r['request_ms']):.0f} | {max(r['request_ms']):.0f} "
            f"| {statistics.median(r['update_ms']):.0f} |"
        )


if __name__ == "__main__":
    main()
