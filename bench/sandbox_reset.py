"""Benchmark: ``POST /sandbox/reset`` at demo size (issue 13: at most 50 ms on SQLite).

    .venv/bin/python -m bench.sandbox_reset [--runs 50] [--no-write] [--only sqlite|postgresql]

For each database it creates a throwaway database, migrates it, loads the demo data
(``thanx-server demo``), saves it as the baseline, then repeats what a partner's test suite
does: a test changes something (a new subscriber through the Partner API), then the suite resets
everything before the next test. Timed: the reset request, end to end through the real app
(ASGI, in process: authentication, the transaction, the commit), with the embedded database's
default settings, and the CPU time the process spent on it (its threads included: on a shared
machine wall time says more about the neighbours). Printed, and written to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.common import drop_postgres, fresh_postgres, fresh_sqlite, machine_facts, write_section
from thanx_server.app import create_app
from thanx_server.demo.loader import load_demo
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine
from thanx_server.operators import service as operator_service
from thanx_server.partner import service as partner_service
from thanx_server.sandbox.state import service as state_service
from thanx_server.sandbox.state.tables import ORDERED
from thanx_server.settings import Settings

TARGET_MS = 50.0


async def _rows(db: Database) -> int:
    async with db.read_sessions() as session:
        total = 0
        for table in ORDERED:  # data and credentials (not the journal, the clock, ...)
            total += int(await session.scalar(select(func.count()).select_from(table)) or 0)
        return total


async def run(kind: str, runs: int) -> dict[str, Any]:
    name = f"bench_reset_{uuid.uuid4().hex[:8]}"
    url = await fresh_postgres(name) if kind == "postgresql" else fresh_sqlite(name)
    engine = create_engine(url, pool_size=4)
    db = Database.from_engine(engine)
    try:
        await migrate.upgrade(engine)
        with tempfile.TemporaryDirectory() as tmp:
            async with db.write_sessions() as session, session.begin():
                ctx = await load_demo(session, Path(tmp))
                operator = await operator_service.create_operator(session, name="bench")
                merchant_id = next(iter(ctx.merchants.values())).id if ctx.merchants else None
                partner = await partner_service.create_partner(
                    session,
                    name="bench partner",
                    scopes=["subscribers.write", "sandbox"],
                    merchant_ids=[merchant_id] if merchant_id else [],
                )
                await state_service.save_baseline(session)
            rows = await _rows(db)
            app = create_app(
                Settings(
                    data_dir=Path(tmp),
                    embedded_worker=False,
                    rate_limit_enabled=False,
                    access_log=False,
                ),
                database=db,
            )
            ops = {
                "Authorization": f"Bearer {operator.access_token}",
                "X-ClientId": operator.client_id,
            }
            pheaders = {
                "Authorization": f"Bearer {partner.access_token}",
                "X-ClientId": partner.client_id,
            }
            timings: list[float] = []
            inside: list[float] = []
            cpu_times: list[float] = []
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as client:
                for i in range(runs + 3):
                    if merchant_id:
                        made = await client.post(
                            "/partner/subscribers",
                            json={
                                "merchant_id": merchant_id,
                                "subscriber": {
                                    "email": f"bench{i}@example.com",
                                    "first_name": "Bench",
                                },
                            },
                            headers=pheaders,
                        )
                        assert made.status_code < 300, made.text
                    started, cpu = time.perf_counter(), time.process_time()
                    response = await client.post("/sandbox/reset", json={}, headers=ops)
                    elapsed = (time.perf_counter() - started) * 1000
                    cpu_ms = (time.process_time() - cpu) * 1000
                    assert response.status_code == 200, response.text
                    if i >= 3:  # the first resets warm the caches (the baseline's rows)
                        timings.append(elapsed)
                        inside.append(response.json()["reset"]["duration_ms"])
                        cpu_times.append(cpu_ms)
            assert await _rows(db) == rows, "a reset must give back the baseline's rows"
    finally:
        await db.dispose()
        if kind == "postgresql":
            await drop_postgres(name)
    timings.sort()
    return {
        "kind": kind,
        "rows": rows,
        "runs": runs,
        "median": statistics.median(timings),
        "service_median": statistics.median(inside),
        "cpu_median": statistics.median(cpu_times),
        "p95": timings[int(len(timings) * 0.95) - 1],
        "max": timings[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    results = [asyncio.run(run(kind, args.runs)) for kind in kinds]
    lines = [
        "## Sandbox reset (`.venv/bin/python -m bench.sandbox_reset`)",
        "",
        machine_facts(),
        "",
        f"Demo data as the baseline; each run adds a subscriber through the API, then resets "
        f"everything over HTTP (in-process ASGI, end to end). Target: at most {TARGET_MS:.0f} ms "
        "on SQLite.",
        "",
        "| database | rows in the baseline | runs | median ms | p95 ms | max ms | "
        "of which the reset's statements (median ms) | CPU of the process (median ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['kind']} | {r['rows']} | {r['runs']} | {r['median']:.1f} | {r['p95']:.1f} | "
            f"{r['max']:.1f} | {r['service_median']:.1f} | {r['cpu_median']:.1f} |"
        )
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("sandbox-reset", text)


if __name__ == "__main__":
    main()
