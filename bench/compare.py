"""Before/after on one machine in one run: two checkouts of the server, same data, alternating.

    .venv/bin/python -m bench.compare --baseline ../baseline            # both engines
    .venv/bin/python -m bench.compare --baseline ../baseline --engine sqlite --scale small

``--baseline`` is another checkout of this project with its own ``.venv`` (``make .venv/.installed``
there). Both servers serve the same freshly loaded database (bench/dataset.py, migrated by this
checkout), each on its own port, with the same settings as ``bench.http``. For each endpoint the
two are loaded with ``wrk`` in turn, round after round (A B, B A, A B, ...), so a slow moment of
this shared machine lands on both sides; the table shows the median of each side and the ratio.

``--env KEY=VALUE`` sets a server setting on both sides, ``--before-env KEY=VALUE`` on the before
side only; with ``--baseline .`` that compares one checkout in two configurations, e.g. what a
sandbox costs over production: ``--baseline . --before-env THANX_ENVIRONMENT=production``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import OUT_DIR, fresh_database, machine_facts, server_env, write_section
from bench.dataset import Loaded, Scale, load
from bench.http import Endpoint, _headers, _wait_ready, _wrk, endpoints, take_path
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine


def _serve(checkout: Path, port: int, processes: int, env: dict[str, str], log: Path) -> Any:
    python = checkout / ".venv" / "bin" / "python"
    with log.open("wb") as fh:
        return subprocess.Popen(
            [str(python), "-m", "thanx_server", "serve", "--no-migrate", "--port", str(port),
             "--workers", str(processes)],
            env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=checkout,
        )  # fmt: skip


def _prepare(url: str, scale: Scale) -> Loaded:
    async def run() -> Loaded:
        database = Database.from_engine(create_engine(url))
        try:
            await migrate.upgrade(database.engine)
            return await load(database, scale)
        finally:
            await database.dispose()

    return asyncio.run(run())


def compare_engine(
    engine: str,
    baseline: Path,
    scale: Scale,
    duration: int,
    rounds: int,
    connections: int,
    only: str = "",
    env: dict[str, str] | None = None,
    before_env: dict[str, str] | None = None,
) -> list[str]:
    name = f"thanx_bench_compare_{engine}"
    url = fresh_database(engine, name)
    data = _prepare(url, scale)
    processes = 2 if engine == "postgresql" else 1
    sides = {"before": baseline.resolve(), "after": Path(__file__).resolve().parents[1]}
    servers = {}
    bases = {}
    for offset, (side, checkout) in enumerate(sides.items()):
        data_dir = OUT_DIR / f"compare-{engine}-{side}"
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        side_env = {**(env or {}), **((before_env or {}) if side == "before" else {})}
        server = server_env(url, data_dir, **side_env)
        port = 18100 + offset + (10 if engine == "postgresql" else 0)
        servers[side] = _serve(checkout, port, processes, server, data_dir / "server.log")
        bases[side] = f"http://127.0.0.1:{port}"
        _wait_ready(f"{bases[side]}/readyz", servers[side], data_dir / "server.log")
    rows = []
    try:
        time.sleep(1.0)
        for endpoint in endpoints(data):
            if only not in endpoint.name:
                continue
            rows.append(_compare_endpoint(engine, processes, endpoint, data, bases, duration,
                                          rounds, connections))  # fmt: skip
            print(rows[-1], flush=True)
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    return rows


def _compare_endpoint(
    engine: str,
    processes: int,
    endpoint: Endpoint,
    data: Loaded,
    bases: dict[str, str],
    duration: int,
    rounds: int,
    connections: int,
) -> str:
    headers = _headers(data, endpoint)
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in bases}
    for side, base in bases.items():
        warm = httpx.request(
            endpoint.method, base + take_path(endpoint), headers=headers, content=endpoint.body
        )
        if warm.status_code >= 300:
            code = warm.text[:200].replace("|", "/")
            return f"| {engine} | {endpoint.name} | HTTP {warm.status_code} on {side}: {code} | | | | |"
        _wrk(base, endpoint, headers, 2, connections)
    order = list(bases)
    for _ in range(rounds):
        for side in order:
            runs[side].append(_wrk(bases[side], endpoint, headers, duration, connections))
        order.reverse()
    med = {
        side: {key: statistics.median(run[key] for run in side_runs) for key in side_runs[0]}
        for side, side_runs in runs.items()
    }
    errors = sum(int(run["non_2xx"]) for side_runs in runs.values() for run in side_runs)
    before, after = med["before"], med["after"]
    return (
        f"| {engine} ({processes} proc) | {endpoint.name} | {before['rps']:,.0f} | "
        f"{after['rps']:,.0f} | {after['rps'] / before['rps']:.2f}x | "
        f"{before['p99_ms']:.1f} / {after['p99_ms']:.1f} | {errors} |"
    )


def _settings_note(env: dict[str, str], before_env: dict[str, str]) -> str:
    both = ", ".join(f"{key}={value}" for key, value in env.items())
    before = ", ".join(f"{key}={value}" for key, value in before_env.items())
    return (f"; both sides with {both}" if both else "") + (
        f"; the before side with {before}" if before else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the 'before' checkout")
    parser.add_argument("--label", default="one-stack", help="RESULTS.md section name")
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--scale", choices=["full", "small"], default="full")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side and endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default="", help="only the endpoints whose name has this")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE",
        help="a server setting for both sides (e.g. THANX_ENVIRONMENT=production); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--before-env", action="append", default=[], metavar="KEY=VALUE",
        help="a server setting for the 'before' side only (with --baseline pointing at this "
        "checkout: the same code in two configurations); repeatable",
    )  # fmt: skip
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    before_env = dict(item.split("=", 1) for item in args.before_env)
    baseline_commit = subprocess.run(
        ["git", "-C", str(args.baseline), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    after_commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    scale = Scale.named(args.scale)
    engines = ["postgresql", "sqlite"] if args.engine == "both" else [args.engine]
    rows = []
    for engine in engines:
        rows += compare_engine(
            engine, args.baseline, scale, args.duration, args.rounds, args.connections, args.only,
            env, before_env,
        )  # fmt: skip
    if args.no_write:
        return
    write_section(
        f"compare-{args.label}",
        f"## Before/after: {args.label} (`python -m bench.compare --baseline ...`)\n\n"
        f"{machine_facts()}; before = {baseline_commit}, after = {after_commit} "
        f"(working tree){_settings_note(env, before_env)}; wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} "
        f"alternating runs per side, medians; data: {args.scale} data set.\n\n"
        "| engine | endpoint | before req/s | after req/s | after/before | p99 ms before / after "
        "| non-2xx |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
