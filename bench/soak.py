"""Soak: a mixed, realistic load against several API processes and workers on PostgreSQL.

    .venv/bin/python -m bench.soak --duration 60 --api-processes 2 --workers 2 --clients 16

Partners read metadata, campaigns and users, issue rewards in batches (some with idempotency
keys, some with unknown identifiers) and poll their jobs; end users mint tokens and list,
activate and finalize rewards. At the end every job must finish, every job's counts must add up,
the rewards table must hold exactly what the jobs say they issued, and no response may be a 5xx.
Prints throughput, p50/p99 per operation and the API processes' memory at start and end, and
writes them to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.common import (
    OUT_DIR,
    api_processes,
    drop_postgres,
    fresh_postgres,
    machine_facts,
    rss_kib,
    write_section,
)
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine
from thanx_server.models import IssuanceJob, IssuanceOutcome, Reward


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: list[str] = field(default_factory=list)
    job_ids: set[str] = field(default_factory=set)

    def record(self, op: str, status: int, seconds: float, body: str = "") -> None:
        self.latencies[op].append(seconds)
        self.statuses[op][status] += 1
        if status >= 500:
            self.errors.append(f"{op}: {status} {body[:200]}")


@dataclass
class World:
    base: str
    headers: dict[str, str]
    merchant_id: str
    campaign_id: str
    variant_ids: list[str]
    emails: list[str]


async def _call(
    client: httpx.AsyncClient, stats: Stats, op: str, method: str, url: str, **kw: Any
) -> httpx.Response:
    started = time.perf_counter()
    response = await client.request(method, url, **kw)
    stats.record(op, response.status_code, time.perf_counter() - started, response.text)
    return response


async def partner_loop(world: World, stats: Stats, deadline: float, rnd: random.Random) -> None:
    async with httpx.AsyncClient(base_url=world.base, headers=world.headers, timeout=30) as client:
        while time.monotonic() < deadline:
            roll = rnd.random()
            if roll < 0.30:
                await _call(client, stats, "GET merchants", "GET", "/partner/merchants")
            elif roll < 0.45:
                await _call(
                    client,
                    stats,
                    "GET campaigns",
                    "GET",
                    "/partner/campaigns",
                    params={"merchant_id": world.merchant_id},
                )
            elif roll < 0.55:
                email = rnd.choice(world.emails)
                await _call(
                    client,
                    stats,
                    "GET users?email",
                    "GET",
                    "/partner/users",
                    params={"merchant_id": world.merchant_id, "email": email},
                )
            elif roll < 0.70:
                count = rnd.randint(20, 500)
                identifiers = [
                    {
                        "type": "email",
                        "value": rnd.choice(world.emails)
                        if rnd.random() < 0.8
                        else f"ghost{rnd.randrange(10**6)}@nowhere.example",
                    }
                    for _ in range(count)
                ]
                body = {
                    "campaign_id": world.campaign_id,
                    "merchant_id": world.merchant_id,
                    "variant_id": rnd.choice(world.variant_ids),
                    "identifiers": identifiers,
                }
                headers = {"X-Idempotency-Key": str(uuid.uuid4())} if rnd.random() < 0.5 else {}
                response = await _call(
                    client,
                    stats,
                    "POST issue",
                    "POST",
                    "/partner/campaigns/issue",
                    json=body,
                    headers=headers,
                )
                if response.status_code == 202:
                    job_id = response.json()["issuance_job"]["id"]
                    stats.job_ids.add(job_id)
                    if headers:  # a retry with the same key must replay the same job
                        replay = await _call(
                            client,
                            stats,
                            "POST issue (replay)",
                            "POST",
                            "/partner/campaigns/issue",
                            json=body,
                            headers=headers,
                        )
                        if replay.json().get("issuance_job", {}).get("id") != job_id:
                            stats.errors.append(
                                f"idempotent replay gave another job: {replay.text[:200]}"
                            )
            elif stats.job_ids:
                job_id = rnd.choice(sorted(stats.job_ids))
                await _call(
                    client,
                    stats,
                    "GET job",
                    "GET",
                    f"/partner/issuance_jobs/{job_id}",
                    params={"merchant_id": world.merchant_id},
                )
            else:
                await _call(client, stats, "GET locations", "GET", "/partner/locations")


async def consumer_loop(world: World, stats: Stats, deadline: float, rnd: random.Random) -> None:
    async with httpx.AsyncClient(base_url=world.base, timeout=30) as client:
        while time.monotonic() < deadline:
            email = rnd.choice(world.emails)
            minted = await _call(
                client,
                stats,
                "POST oauth/token",
                "POST",
                "/partner/oauth/token",
                json={"merchant_id": world.merchant_id, "email": email, "expires_in": 600},
                headers=world.headers,
            )
            if minted.status_code != 200:
                continue
            bearer = {"Authorization": f"Bearer {minted.json()['access_token']}"}
            for _ in range(rnd.randint(3, 8)):
                if time.monotonic() >= deadline:
                    break
                listed = await _call(
                    client,
                    stats,
                    "GET /rewards",
                    "GET",
                    "/rewards",
                    headers=bearer,
                    params={"states[]": "available"},
                )
                rewards = listed.json().get("rewards", []) if listed.status_code == 200 else []
                if rewards and rnd.random() < 0.5:
                    reward_id = rnd.choice(rewards)["id"]
                    await _call(
                        client,
                        stats,
                        "PATCH activate",
                        "PATCH",
                        f"/rewards/{reward_id}/activate",
                        headers=bearer,
                    )
                    await _call(
                        client,
                        stats,
                        "PATCH finalize",
                        "PATCH",
                        f"/rewards/{reward_id}/finalize",
                        headers=bearer,
                    )


async def world_of(base: str, client_id: str, token: str, handle: str) -> World:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-ClientId": client_id,
        "Accept-Version": "v4.0",
    }
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        merchants = (await client.get("/partner/merchants")).json()["merchants"]
        merchant_id = next(m["id"] for m in merchants if m["handle"] == handle)
        campaigns = (
            await client.get(
                "/partner/campaigns", params={"merchant_id": merchant_id, "per_page": 100}
            )
        ).json()["campaigns"]
        campaign = campaigns[0]
        users = (
            await client.get("/partner/users", params={"merchant_id": merchant_id, "per_page": 100})
        ).json()["users"]
    return World(
        base=base, headers=headers, merchant_id=merchant_id, campaign_id=campaign["id"],
        variant_ids=[v["id"] for v in campaign["variants"]], emails=[u["email"] for u in users if u.get("email")],
    )  # fmt: skip


async def seed_members(url: str, merchant_handle: str, count: int) -> None:
    """More members for the demo merchant, so issuance has real people to match."""
    from thanx_server.merchant import repository as merchant_repository
    from thanx_server.user import service as user_service

    database = Database.from_engine(create_engine(url))
    try:
        async with database.write_sessions() as session, session.begin():
            merchant = await merchant_repository.get_merchant_by_handle(session, merchant_handle)
            assert merchant is not None
            for i in range(count):
                await user_service.create_member(
                    session, merchant_id=merchant.id, email=f"soak{i}@soak.example"
                )
    finally:
        await database.dispose()


async def check_invariants(url: str, job_ids: set[str], wait_s: float) -> list[str]:
    """Wait for every job to finish, then check that counts and rewards add up."""
    database = Database.from_engine(create_engine(url))
    problems: list[str] = []
    try:
        deadline = time.monotonic() + wait_s
        while True:
            async with database.read_sessions() as session:
                unfinished = await session.scalar(
                    select(func.count())
                    .select_from(IssuanceJob)
                    .where(IssuanceJob.state.in_(("pending", "processing")))
                )
            if not unfinished or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if unfinished:
            problems.append(f"{unfinished} jobs still unfinished after {wait_s}s")
        async with database.read_sessions() as session:
            jobs = (await session.scalars(select(IssuanceJob))).all()
            rewards = dict((await session.execute(
                select(Reward.issuance_job_id, func.count()).where(Reward.issuance_job_id.is_not(None)).group_by(Reward.issuance_job_id)
            )).all())  # fmt: skip
            holdouts = dict((await session.execute(
                select(IssuanceOutcome.job_id, func.count())
                .where(IssuanceOutcome.error.is_(None), IssuanceOutcome.reward_id.is_(None))
                .group_by(IssuanceOutcome.job_id)
            )).all())  # fmt: skip
        missing = job_ids - {job.id for job in jobs}
        if missing:
            problems.append(f"{len(missing)} accepted jobs are not in the database")
        for job in jobs:
            if job.state not in ("completed", "failed"):
                continue
            if (
                job.success_count + job.failure_count != job.total_count
                or job.processed_count != job.total_count
            ):
                problems.append(
                    f"job {job.id}: counts do not add up ({job.success_count}+{job.failure_count} of {job.total_count})"
                )
            issued = rewards.get(job.id, 0)
            expected = job.success_count - holdouts.get(job.id, 0)
            if job.state == "completed" and issued != expected:
                problems.append(f"job {job.id}: {issued} rewards for {expected} issued")
        return problems
    finally:
        await database.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16, help="concurrent simulated clients")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    db_name = "thanx_bench_soak"
    url = asyncio.run(fresh_postgres(db_name))
    data_dir = OUT_DIR / "data-soak"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {**os.environ, "THANX_DATABASE_URL": url, "THANX_DATA_DIR": str(data_dir),
           "THANX_RATE_LIMIT_ENABLED": "false", "THANX_LOG_FORMAT": "json", "THANX_EMBEDDED_WORKER": "false"}  # fmt: skip

    async def migrate_db() -> None:
        engine = create_engine(url)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(migrate_db())
    import json

    demo = json.loads(subprocess.run([sys.executable, "-m", "thanx_server", "demo", "--json"], env=env,
                                     capture_output=True, text=True, check=True).stdout)  # fmt: skip
    asyncio.run(seed_members(url, "pizzatown", args.members))
    port = 18100
    logs = {
        name: (data_dir / f"{name}.log").open("wb")
        for name in ["server", *[f"worker{i}" for i in range(args.workers)]]
    }
    server = subprocess.Popen([sys.executable, "-m", "thanx_server", "serve", "--no-migrate", "--port", str(port),
                               "--workers", str(args.api_processes)], env=env, stdout=logs["server"], stderr=subprocess.STDOUT)  # fmt: skip
    workers = [
        subprocess.Popen([sys.executable, "-m", "thanx_server", "worker"], env=env, stdout=logs[f"worker{i}"], stderr=subprocess.STDOUT)
        for i in range(args.workers)
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    stats = Stats()
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        time.sleep(1)
        api_pids = api_processes(server.pid, args.api_processes)
        rss_start = [rss_kib(p) / 1024 for p in api_pids]
        world = asyncio.run(world_of(base, demo["client_id"], demo["access_token"], "pizzatown"))
        world.emails += [f"soak{i}@soak.example" for i in range(args.members)]

        async def run_load() -> float:
            deadline = time.monotonic() + args.duration
            rnd = random.Random(42)
            started = time.perf_counter()
            loops = [
                partner_loop(world, stats, deadline, random.Random(rnd.random())) if i % 2 == 0
                else consumer_loop(world, stats, deadline, random.Random(rnd.random()))
                for i in range(args.clients)
            ]  # fmt: skip
            await asyncio.gather(*loops)
            return time.perf_counter() - started

        elapsed = asyncio.run(run_load())
        rss_end = [rss_kib(p) / 1024 for p in api_pids]
        problems = asyncio.run(check_invariants(url, stats.job_ids, wait_s=120))
    finally:
        for process in (*workers, server):
            process.terminate()
        for process in (*workers, server):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for fh in logs.values():
            fh.close()
        asyncio.run(drop_postgres(db_name))

    total = sum(len(v) for v in stats.latencies.values())
    all_latencies = [x for v in stats.latencies.values() for x in v]
    rows = ["| operation | requests | p50 ms | p99 ms | statuses |", "|---|---|---|---|---|"]
    for op in sorted(stats.latencies):
        values = stats.latencies[op]
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(stats.statuses[op].items()))
        rows.append(
            f"| {op} | {len(values)} | {percentile(values, 0.5):.1f} | {percentile(values, 0.99):.1f} | {codes} |"
        )
    rows.append(
        f"| **all** | {total} | {percentile(all_latencies, 0.5):.1f} | {percentile(all_latencies, 0.99):.1f} | |"
    )
    verdict = "PASS" if not problems and not stats.errors else "FAIL"
    summary = (
        f"{verdict}: {total} requests in {elapsed:.0f}s ({total / elapsed:,.0f} req/s) from {args.clients} clients; "
        f"{len(stats.job_ids)} issuance jobs, all finished and consistent: {not problems}; 5xx: {len(stats.errors)}.\n"
        f"API processes RSS (MiB): start {', '.join(f'{r:.0f}' for r in rss_start)}; end {', '.join(f'{r:.0f}' for r in rss_end)}; "
        f"mean latency {statistics.mean(all_latencies) * 1000:.1f} ms."
    )
    table = "\n".join(rows)
    print(f"\n{summary}\n\n{table}")
    for problem in (problems + stats.errors)[:20]:
        print("  problem:", problem)
    if not args.no_write:
        write_section("soak", (
            f"## Soak (`python -m bench.soak --duration {args.duration} --api-processes {args.api_processes} "
            f"--workers {args.workers} --clients {args.clients}`)\n\n{machine_facts()}.\n\n{summary}\n\n{table}\n"
        ))  # fmt: skip
    sys.exit(0 if verdict == "PASS" else 1)


if __name__ == "__main__":
    main()
