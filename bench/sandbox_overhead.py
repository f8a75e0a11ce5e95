"""Benchmark: what a sandbox adds to a read, and what the request journal costs (issue 13).

    .venv/bin/python -m bench.sandbox_overhead [--requests 400] [--runs 3] [--no-write]

The same app over the same demo database (SQLite file), in three configurations, interleaved
run by run: ``production`` (no sandbox machinery), ``sandbox`` with the journal off (the clock
and fault-rule check per request), ``sandbox`` with the journal on (the default). Each run sends
``--requests`` cached-credential ``GET /partner/merchants`` in process (ASGI) and measures the
process's CPU time per request (its threads included: on a shared machine wall time says more
about the neighbours than about the code) and the wall-clock throughput. Prints the medians and
writes them to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import fresh_sqlite, machine_facts, write_section
from thanx_server.app import create_app
from thanx_server.demo.loader import load_demo
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Environment, Settings

CONFIGS: dict[str, dict[str, Any]] = {
    "production": {"environment": Environment.PRODUCTION},
    "sandbox, journal off": {"environment": Environment.SANDBOX, "journal_enabled": False},
    "sandbox, journal on": {"environment": Environment.SANDBOX, "journal_enabled": True},
}


async def measure(requests: int, runs: int) -> dict[str, tuple[float, float]]:
    url = fresh_sqlite("sandbox_overhead")
    engine = create_engine(url, pool_size=2)
    db = Database.from_engine(engine)
    await migrate.upgrade(engine)
    tmp = Path(tempfile.mkdtemp())
    async with db.write_sessions() as session, session.begin():
        ctx = await load_demo(session, tmp)
    headers = {"Authorization": f"Bearer {ctx.access_token}", "X-ClientId": ctx.client_id}
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    rate: dict[str, list[float]] = {name: [] for name in CONFIGS}
    try:
        for _ in range(runs):
            for name, options in CONFIGS.items():
                settings = Settings(
                    data_dir=tmp,
                    embedded_worker=False,
                    rate_limit_enabled=False,
                    access_log=False,
                    **options,
                )
                app = create_app(settings, database=db)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                    for _ in range(50):
                        await client.get("/partner/merchants", headers=headers)
                    started, cpu_started = time.perf_counter(), time.process_time()
                    for _ in range(requests):
                        response = await client.get("/partner/merchants", headers=headers)
                        assert response.status_code == 200, response.text
                    wall = time.perf_counter() - started
                    cpu[name].append((time.process_time() - cpu_started) / requests * 1e6)
                    rate[name].append(requests / wall)
                journal = app.state.journal
                if journal is not None:
                    await journal.aclose()
    finally:
        await db.dispose()
    return {name: (statistics.median(cpu[name]), statistics.median(rate[name])) for name in CONFIGS}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(measure(args.requests, args.runs))
    base_cpu, _ = results["production"]
    off_cpu, off_rate = results["sandbox, journal off"]
    lines = [
        "## Sandbox overhead and the journal's cost (`python -m bench.sandbox_overhead`)",
        "",
        machine_facts(),
        "",
        f"{args.requests} cached-credential `GET /partner/merchants` per run, in process (ASGI), "
        f"SQLite, {args.runs} interleaved runs per configuration; medians.",
        "",
        "| configuration | CPU µs/request | requests/s (wall) | CPU vs production | "
        "CPU vs journal off | throughput vs journal off |",
        "|---|---|---|---|---|---|",
    ]
    for name, (cpu, rate) in results.items():
        lines.append(
            f"| {name} | {cpu:.0f} | {rate:.0f} | {cpu / base_cpu - 1:+.1%} | "
            f"{cpu / off_cpu - 1:+.1%} | {rate / off_rate - 1:+.1%} |"
        )
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("sandbox-overhead", text)


if __name__ == "__main__":
    main()
