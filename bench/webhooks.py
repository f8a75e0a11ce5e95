"""Benchmark: a 10,000-identifier job's webhooks (issue 14).

    .venv/bin/python -m bench.webhooks [--runs 3] [--no-write] [--only sqlite|postgresql]
    .venv/bin/python -m bench.webhooks --delivery-only [--runs 3] [--only ...]   # no write
    .venv/bin/python -m bench.webhooks --instructions [--baseline DIR] [--runs 3]  # SQLite

Per database (as ``bench.issuance``: a throwaway database, 9,000 members, a 10,000-identifier
job giving 9,000 rewards), with one webhook endpoint registered at a local receiver
(``bench.webhook_receiver``, its own process):

1. **Job overhead**: the job from POST to ``completed``, alternately without the outbox writes
   (the ``reward.issued`` / ``reward_batch.completed`` emit functions replaced by no-ops, in this
   process) and with them (9,001 events and 9,001 deliveries written inside the job's chunks).
   Target: at most 20% slower.
2. **Delivery**: after each job with events, one delivery worker (``tasks.drain``, the default
   settings) sends its 9,001 events to the receiver; measured from the job's completion to the
   receiver's last POST (its clock), target <= 5 s, with the CPU time this process spent in the
   drain (user + system, all threads: less moved by the machine's load than the wall time).

``--instructions [--baseline DIR]`` counts step 1 in CPU instructions instead, on SQLite, under
``valgrind --tool=callgrind`` (a figure the machine's load does not move): one process per side
(this checkout's bench with DIR's ``src`` first on the path for the baseline) seeds, warms up,
then per run zeroes the counters, runs a job without events, dumps, runs one with events, dumps
(the outbox dispatched between jobs, uncounted). PostgreSQL's server work is another process and
is not counted, so this mode is SQLite's only.

``--delivery-only`` skips the jobs without events (step 1) and prints one line per drain. It
uses nothing newer than the delivery worker's public functions, so it can measure an older
checkout too, for a before/after in the same run (alternate the two)::

    PYTHONPATH=/path/to/before/src:. .venv/bin/python -m bench.webhooks --delivery-only
    .venv/bin/python -m bench.webhooks --delivery-only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import machine_facts, write_section
from bench.issuance import _create_database, _drop_database, _seed, _server_cpu_s
from thanx_server.app import create_app
from thanx_server.issuance import tasks as issuance_tasks
from thanx_server.kit.scoping import MerchantScope
from thanx_server.settings import Settings
from thanx_server.webhook import service, tasks

OVERHEAD_TARGET = 0.20
DELIVERY_TARGET_S = 5.0


@dataclass
class Result:
    kind: str
    without_ms: list[float] = field(default_factory=list)
    with_ms: list[float] = field(default_factory=list)
    # CPU per job: this process (all threads) plus PostgreSQL's server processes (bench.issuance)
    without_cpu_ms: list[float] = field(default_factory=list)
    with_cpu_ms: list[float] = field(default_factory=list)
    delivery_s: list[float] = field(default_factory=list)
    delivery_cpu_s: list[float] = field(default_factory=list)
    delivered: int = 0


def _app(tmp: Path, database: Any) -> tuple[Settings, Any, Any]:
    """The app the job runs through and its worker's settings (both benchmarks)."""
    settings = Settings(
        data_dir=tmp, embedded_worker=False, log_level="WARNING", rate_limit_enabled=False
    )
    app = create_app(settings, database=database)
    return settings, app, issuance_tasks.WorkerConfig.from_settings(settings, owner="bench")


async def _noop(*_args: Any, **_kw: Any) -> None:
    return None


async def _count(port: int) -> tuple[int, float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/count")).text
    n, last = text.split()
    return int(n), float(last)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def bench(kind: str, runs: int, port: int, *, delivery_only: bool = False) -> Result:
    result = Result(kind)
    with tempfile.TemporaryDirectory() as tmp:
        url, pg_name = await _create_database(kind, Path(tmp))
        try:
            seeded = await _seed(url)
            merchant_id = seeded.body["merchant_id"]
            async with seeded.database.write_sessions() as session, session.begin():
                await service.create_endpoint(
                    session,
                    MerchantScope.one(merchant_id),
                    merchant_id=merchant_id,
                    url=f"http://127.0.0.1:{port}/hook",
                    policy=service.UrlPolicy(production=False, allow_private=True),
                )
            settings, app, worker = _app(Path(tmp), seeded.database)
            deliverer = tasks.DeliveryConfig.from_settings(settings, owner="bench")
            real_issued = issuance_tasks.outbox.rewards_issued
            real_batch = issuance_tasks.outbox.batch_completed
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

                async def job(cpu: list[float] | None = None) -> float:
                    cpu_before = time.process_time() + await _server_cpu_s(pg_name)
                    started = time.perf_counter()
                    response = await client.post(
                        "/partner/campaigns/issue", json=seeded.body, headers=seeded.headers
                    )
                    assert response.status_code == 202, response.text
                    await issuance_tasks.drain(seeded.database, worker)
                    elapsed = (time.perf_counter() - started) * 1000
                    if cpu is not None:
                        spent = time.process_time() + await _server_cpu_s(pg_name) - cpu_before
                        cpu.append(spent * 1000)
                    return elapsed

                await job()  # warm-up (with events), then deliver them
                await tasks.drain(seeded.database, deliverer)
                for _ in range(runs):
                    if not delivery_only:
                        issuance_tasks.outbox.rewards_issued = _noop  # type: ignore[assignment]
                        issuance_tasks.outbox.batch_completed = _noop  # type: ignore[assignment]
                        try:
                            result.without_ms.append(await job(result.without_cpu_ms))
                        finally:
                            issuance_tasks.outbox.rewards_issued = real_issued  # type: ignore[assignment]
                            issuance_tasks.outbox.batch_completed = real_batch  # type: ignore[assignment]
                    result.with_ms.append(await job(result.with_cpu_ms))
                    completed = time.time()
                    before, _ = await _count(port)
                    cpu = _cpu()
                    await tasks.drain(seeded.database, deliverer)
                    result.delivery_cpu_s.append(_cpu() - cpu)
                    after, last = await _count(port)
                    assert after - before == 9_001, (before, after)
                    result.delivered += after - before
                    result.delivery_s.append(last - completed)
                    if delivery_only:
                        print(
                            f"{kind}: completion -> last delivery {result.delivery_s[-1]:.2f} s, "
                            f"drain CPU {result.delivery_cpu_s[-1]:.2f} s",
                            flush=True,
                        )
            await seeded.database.dispose()
        finally:
            await _drop_database(pg_name)
    return result


async def _instructions_probe(library: str, runs: int) -> None:
    """Runs under callgrind (``--instructions``): see the module's docstring."""
    import ctypes

    client = ctypes.CDLL(library)
    with tempfile.TemporaryDirectory() as tmp:
        url, _ = await _create_database("sqlite", Path(tmp))
        seeded = await _seed(url)
        _settings, app, worker = _app(Path(tmp), seeded.database)
        real = issuance_tasks.outbox.rewards_issued, issuance_tasks.outbox.batch_completed
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def job(events: bool) -> None:
                issued, batch = real if events else (_noop, _noop)
                issuance_tasks.outbox.rewards_issued = issued  # type: ignore[assignment]
                issuance_tasks.outbox.batch_completed = batch  # type: ignore[assignment]
                response = await http.post(
                    "/partner/campaigns/issue", json=seeded.body, headers=seeded.headers
                )
                assert response.status_code == 202, response.text
                await issuance_tasks.drain(seeded.database, worker)

            async def dispatched() -> None:
                while await tasks.dispatch(seeded.database):
                    pass

            await job(True)
            await dispatched()
            await job(False)
            for _ in range(runs):
                for events in (False, True):
                    client.bench_zero()
                    await job(events)
                    client.bench_dump(b"with" if events else b"without")
                    await dispatched()
        await seeded.database.dispose()


def instructions(runs: int, baseline: Path | None) -> str:
    """``--instructions``: a job's instructions without and with its events, per side."""
    from bench.instructions import _NO_DB_BOUNDS, _client_library

    library = _client_library()
    here = Path.cwd()
    sides = [("after (this checkout)", here)]
    if baseline is not None:
        sides.insert(0, (f"before ({baseline})", baseline.resolve()))
    lines = [
        "| SQLite, instructions per job (callgrind, median) | without events | with events "
        "| overhead |",
        "|---|---|---|---|",
    ]
    for name, checkout in sides:
        env = {**os.environ, **_NO_DB_BOUNDS, "PYTHONPATH": f"{checkout / 'src'}:{here}"}
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.%p",
                 sys.executable, "-m", "bench.webhooks", "--instructions-probe", str(library),
                 "--runs", str(runs)],
                env=env, cwd=here, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                raise SystemExit(f"probe failed ({out.returncode}):\n{out.stderr[-3000:]}")
            counts: dict[str, list[int]] = {"without": [], "with": []}
            for dump in Path(tmp).iterdir():
                text = dump.read_text(errors="replace")
                label = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.M)
                # ``totals`` (the sum of the dump's cost lines), not ``summary``: a dump taken
                # after a zero inside a running coroutine's frames had a summary up to 2.5x its
                # totals for the first job of a run.
                total = re.search(r"^totals: (\d+)", text, re.M)
                if label and total:
                    counts[label.group(1)].append(int(total.group(1)))
        without, with_ = (statistics.median(counts[k]) for k in ("without", "with"))
        lines.append(
            f"| {name} | {without / 1e6:,.0f} M | {with_ / 1e6:,.0f} M | {with_ / without - 1:+.1%} |"
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append("")
    lines.append(
        f"- {runs} jobs of each kind per side after a warm-up; the benchmark process's "
        "instructions, all threads (SQLite runs in its driver's thread)"
    )
    lines.append(f"- {machine_facts()}; load average at the end: {load}")
    return "\n".join(lines) + "\n"


def render(results: list[Result], runs: int) -> str:
    lines = [
        "| database | job without events (ms, median) | job with 9,001 events (ms, median) "
        "| overhead | CPU per job without / with events (ms, median) | CPU overhead "
        "| target <= 20% | completion -> last delivery (s, median / worst) | target <= 5 s "
        "| drain CPU (s, median) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        without, with_ = statistics.median(r.without_ms), statistics.median(r.with_ms)
        overhead = with_ / without - 1
        cpu_without, cpu_with = (
            statistics.median(r.without_cpu_ms),
            statistics.median(r.with_cpu_ms),
        )
        cpu_overhead = cpu_with / cpu_without - 1
        delivery = statistics.median(r.delivery_s)
        lines.append(
            f"| {r.kind} | {without:.0f} | {with_:.0f} | {overhead:+.0%} | "
            f"{cpu_without:.0f} / {cpu_with:.0f} | {cpu_overhead:+.0%} | "
            f"{'met' if max(overhead, cpu_overhead) <= OVERHEAD_TARGET else 'MISSED'} | "
            f"{delivery:.2f} / {max(r.delivery_s):.2f} | "
            f"{'met' if delivery <= DELIVERY_TARGET_S else 'MISSED'} | "
            f"{statistics.median(r.delivery_cpu_s):.2f} |"
        )
    lines.append("")
    lines.append(
        f"- {runs} runs per database after one warm-up, alternating without/with events; one "
        "endpoint subscribed to everything; receiver: bench/webhook_receiver.py (own process); "
        "one in-process delivery worker with the default settings; CPU per job: the benchmark "
        "process (all threads) plus PostgreSQL's server processes, less noisy than wall time on "
        "this shared machine; drain CPU: this process's user + system time during the drain"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines.append(f"- {machine_facts()}; load average at the end: {load}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--delivery-only", action="store_true")
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--baseline", type=Path)
    parser.add_argument("--instructions-probe", metavar="LIBRARY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions_probe:
        asyncio.run(_instructions_probe(args.instructions_probe, args.runs))
        return
    if args.instructions:
        table = instructions(args.runs, args.baseline)
        print(table)
        if not args.no_write:
            write_section(
                "webhooks-instructions",
                "## Webhooks, job overhead in instructions "
                "(`.venv/bin/python -m bench.webhooks --instructions --baseline DIR`)\n\n" + table,
            )
        return
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_receiver"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        kinds = [args.only] if args.only else ["sqlite", "postgresql"]
        results = [
            asyncio.run(bench(kind, args.runs, port, delivery_only=args.delivery_only))
            for kind in kinds
        ]
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    if args.delivery_only:
        return
    table = render(results, args.runs)
    print(table)
    if not args.no_write:
        write_section("webhooks", "## Webhooks (`.venv/bin/python -m bench.webhooks`)\n\n" + table)


if __name__ == "__main__":
    main()
