"""Benchmark: generate 100,000 promotion codes in one call, through the real app.

    .venv/bin/python -m bench.promotions [--runs 5] [--only sqlite|postgresql] [--no-write]

For each database (a SQLite file under bench/out; a throwaway PostgreSQL database at
``THANX_BENCH_PG_DSN``) it migrates, makes a merchant, a partner credential and a promotion, then
times ``POST /partner/promotions/{id}/codes`` with ``{"count": 100000}`` from the request to the
committed answer (one warm-up call first). Every run adds 100,000 codes to the same promotion, so
later runs also pay for a growing unique index, as a real pool would. After the runs it checks
that the pool holds runs x 100,000 distinct codes. Results are printed and written to
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from bench.common import drop_postgres, fresh_postgres, fresh_sqlite, machine_facts, write_section
from thanx_server.app import create_app
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine
from thanx_server.merchant import service as merchant_service
from thanx_server.models import PromotionCode
from thanx_server.partner import service as partner_service
from thanx_server.settings import Settings

COUNT = 100_000
TARGET_SECONDS = 2.0


@dataclass
class Result:
    kind: str
    seconds: list[float]
    codes: int
    distinct: int


async def bench(kind: str, runs: int) -> Result:
    name = f"thanx_bench_promo_{uuid.uuid4().hex[:8]}"
    url = await fresh_postgres(name) if kind == "postgresql" else fresh_sqlite(name)
    try:
        engine = create_engine(url)
        await migrate.upgrade(engine)
        database = Database.from_engine(engine)
        async with database.write_sessions() as session, session.begin():
            merchant = await merchant_service.create_merchant(
                session, name="Bench", handle=name, time_zone="UTC"
            )
            issued = await partner_service.create_partner(
                session, name="bench", scopes=["promos.write"], merchant_ids=[merchant.id]
            )
        headers = {"Authorization": f"Bearer {issued.access_token}", "X-ClientId": issued.client_id}
        settings = Settings(embedded_worker=False, log_level="WARNING", rate_limit_enabled=False,
                            access_log=False)  # fmt: skip
        transport = httpx.ASGITransport(app=create_app(settings, database=database))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=120
        ) as client:
            created = await client.post(
                "/partner/promotions",
                json={"merchant_id": merchant.id, "promotion": {"name": "Bench"}},
                headers=headers,
            )
            promotion_id = created.json()["promotion"]["id"]
            path = f"/partner/promotions/{promotion_id}/codes"
            seconds = []
            for i in range(runs + 1):
                started = time.perf_counter()
                response = await client.post(path, json={"count": COUNT}, headers=headers)
                elapsed = time.perf_counter() - started
                assert response.status_code == 201, response.text
                if i:  # the first call is the warm-up
                    seconds.append(elapsed)
        async with database.read_sessions() as session:
            codes = await session.scalar(
                select(func.count()).where(PromotionCode.promotion_id == promotion_id)
            )
            distinct = await session.scalar(
                select(func.count(func.distinct(PromotionCode.code))).where(
                    PromotionCode.promotion_id == promotion_id
                )
            )
        await database.dispose()
        return Result(kind, seconds, codes or 0, distinct or 0)
    finally:
        if kind == "postgresql":
            await drop_postgres(name)


def render(results: list[Result], runs: int) -> str:
    lines = [
        "| database | 100,000 codes: median (s) | best | worst | codes in pool | distinct | "
        "target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        median = statistics.median(r.seconds)
        verdict = "met" if median < TARGET_SECONDS else "MISSED"
        lines.append(
            f"| {r.kind} | {median:.2f} | {min(r.seconds):.2f} | {max(r.seconds):.2f} | "
            f"{r.codes:,} | {r.distinct:,} | < {TARGET_SECONDS:.0f} s: {verdict} |"
        )
    notes = [
        f"- {machine_facts()}",
        f"- {runs} timed calls per database after one warm-up, each "
        '`POST /partner/promotions/{id}/codes` with `{"count": 100000}` through the real app '
        "(ASGI, in process), request to committed answer; the pool grows by 100,000 a call",
        "- load average when written (1/5/15 min): "
        + " / ".join(f"{x:.1f}" for x in os.getloadavg())
        + " (a shared machine: other test suites ran alongside)",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-write", action="store_true", help="Do not update bench/RESULTS.md.")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    results = [asyncio.run(bench(kind, args.runs)) for kind in kinds]
    table = render(results, args.runs)
    print(table)
    if not args.no_write:
        write_section(
            "promotions",
            "## Promotion codes (`.venv/bin/python -m bench.promotions`)\n\n" + table,
        )


if __name__ == "__main__":
    main()
