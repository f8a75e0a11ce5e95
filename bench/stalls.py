"""What makes a read's p99: event-loop stalls, counted inside the API processes under wrk.

    .venv/bin/python -m bench.stalls                                   # PostgreSQL, 2 processes
    .venv/bin/python -m bench.stalls --engine sqlite --baseline ../before --only merchants
    .venv/bin/python -m bench.stalls --loop asyncio                    # name the long callbacks

Serves the data set as ``bench.compare`` does (``--baseline``: that checkout too, in turns) with
``bench/stallprobe`` on ``PYTHONPATH`` and ``THANX_BENCH_STALLS`` set: every API process counts
its garbage collections and their pauses, and how long a callback posted to its event loop
waited to run (the loop's lag: what a new request waits before the loop turns to it). With
``--loop asyncio`` the servers run on asyncio's own loop instead of uvloop, so each callback is
timed and the stack of any running past 4 ms is sampled (the names of the stalls). These counts
do not depend on how loaded the machine is the way wrk's latencies do: a gc pause walks the same
objects, a 200-row flush encodes the same rows. Prints one table per endpoint and side, and the
stacks with ``--stacks``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import OUT_DIR, api_processes, fresh_database, server_env
from bench.compare import _prepare, _serve
from bench.dataset import Scale
from bench.http import _headers, _wait_ready, _wrk, endpoints, take_path

PROBE = Path(__file__).resolve().parent / "stallprobe"
READS = (
    "GET /partner/merchants",
    "GET /partner/campaigns/{id}",
    "GET /rewards",
    "GET /partner/users?email=",
)


def _collect(pids: list[int], out: Path) -> list[dict[str, Any]]:
    for pid in pids:
        (out / f"{pid}.json").unlink(missing_ok=True)
        os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all((out / f"{pid}.json").exists() for pid in pids):
            break
        time.sleep(0.05)
    time.sleep(0.1)
    return [json.loads((out / f"{pid}.json").read_text()) for pid in pids]


def _summary(reports: list[dict[str, Any]], wrk: dict[str, float]) -> dict[str, Any]:
    gc2 = [r["gc"]["2"] for r in reports]
    gc1 = [r["gc"]["1"] for r in reports]
    gc0 = [r["gc"]["0"] for r in reports]
    requests = max(wrk["requests"], 1)
    return {
        "rps": wrk["rps"],
        "p50": wrk["p50_ms"],
        "p99": wrk["p99_ms"],
        "cpu_ms_req": sum(r["cpu_s"] for r in reports) * 1000 / requests,
        "gc0_per_1k": sum(g["count"] for g in gc0) * 1000 / requests,
        "gc1_per_1k": sum(g["count"] for g in gc1) * 1000 / requests,
        "gc2": sum(g["count"] for g in gc2),
        "gc2_max": max(g["max_ms"] for g in gc2),
        "gc_ms_per_1k": sum(g["total_ms"] for r in reports for g in r["gc"].values())
        * 1000
        / requests,
        "gc_max": max(g["max_ms"] for r in reports for g in r["gc"].values()),
        "req_p50": statistics.median(r["request_ms"].get("p50", 0) for r in reports),
        "req_p99": max(r["request_ms"].get("p99", 0) for r in reports),
        "pool_p99": max(r["pool_wait_ms"].get("p99", 0) for r in reports),
        "pool_max": max(r["pool_wait_ms"].get("max", 0) for r in reports),
        "lag_p50": statistics.median(r["lag_ms"].get("p50", 0) for r in reports),
        "lag_p99": max(r["lag_ms"].get("p99", 0) for r in reports),
        "lag_max": max(r["lag_ms"].get("max", 0) for r in reports),
        "slow_cb": sum(
            n
            for r in reports
            for bucket, n in r["cb_hist"].items()
            if bucket in ("4-10", "10-30", ">=30")
        ),
        "slow_cb_30": sum(r["cb_hist"].get(">=30", 0) for r in reports),
    }


_COLUMNS = ("rps", "p50", "p99", "cpu_ms_req", "gc0_per_1k", "gc1_per_1k", "gc2", "gc2_max",
            "gc_ms_per_1k", "gc_max", "req_p50", "req_p99", "pool_p99", "pool_max", "lag_p50", "lag_p99", "lag_max", "slow_cb", "slow_cb_30")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, help="a 'before' checkout, served in turns")
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--scale", choices=["full", "small"], default="small")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default="", help="only the reads whose name has this")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--stacks", action="store_true", help="print the long callbacks' stacks")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for both servers")
    args = parser.parse_args()
    engine = args.engine
    url = fresh_database(engine, f"thanx_bench_stalls_{engine}")
    data = _prepare(url, Scale.named(args.scale))
    processes = 2 if engine == "postgresql" else 1
    sides = {"after": Path(__file__).resolve().parents[1]}
    if args.baseline is not None:
        sides = {"before": args.baseline.resolve(), **sides}
    servers, bases, outs = {}, {}, {}
    extra = dict(item.split("=", 1) for item in args.env)
    for offset, (side, checkout) in enumerate(sides.items()):
        data_dir = OUT_DIR / f"stalls-{engine}-{side}"
        shutil.rmtree(data_dir, ignore_errors=True)
        data_dir.mkdir(parents=True)
        outs[side] = data_dir / "probe"
        env = server_env(url, data_dir, THANX_BENCH_STALLS=str(outs[side]), **extra)
        env["PYTHONPATH"] = str(PROBE) + os.pathsep + env.get("PYTHONPATH", "")
        if args.loop == "asyncio":
            env["THANX_BENCH_STALLS_LOOP"] = "asyncio"
        port = 18200 + offset + (10 if engine == "postgresql" else 0)
        servers[side] = _serve(checkout, port, processes, env, data_dir / "server.log")
        bases[side] = f"http://127.0.0.1:{port}"
        _wait_ready(f"{bases[side]}/readyz", servers[side], data_dir / "server.log")
    pids = {side: api_processes(server.pid, processes) for side, server in servers.items()}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        time.sleep(1.0)
        for endpoint in endpoints(data):
            if not endpoint.name.startswith(READS) or args.only not in endpoint.name:
                continue
            headers = _headers(data, endpoint)
            results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            stacks: dict[str, dict[str, int]] = {side: {} for side in sides}
            slow: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
            shares: dict[str, list[list[float]]] = {side: [] for side in sides}
            for base in bases.values():
                httpx.get(base + take_path(endpoint), headers=headers)
                _wrk(base, endpoint, headers, 2, args.connections)
            order = list(sides)
            for _ in range(args.rounds):
                for side in order:
                    _collect(pids[side], outs[side])
                    wrk = _wrk(bases[side], endpoint, headers, args.duration, args.connections)
                    reports = _collect(pids[side], outs[side])
                    results[side].append(_summary(reports, wrk))
                    shares[side].append([round(r["cpu_s"], 2) for r in reports])
                    for report in reports:
                        for name, (n, ms) in report["cb_slow"].items():
                            got = slow[side].setdefault(name, [0, 0.0])
                            got[0] += n
                            got[1] += ms
                    for report in reports:
                        for stack, n in report["stacks"].items():
                            stacks[side][stack] = stacks[side].get(stack, 0) + n
                order.reverse()
            print(f"\n{endpoint.name} ({engine}, {processes} proc, loop {args.loop}, "
                  f"load {os.getloadavg()[0]:.1f})")  # fmt: skip
            print("side   " + " ".join(f"{c[:7]:>7}" for c in _COLUMNS))
            for side, runs in results.items():
                for run in runs:
                    print(f"{side:6} " + " ".join(f"{run[c]:>7.1f}" for c in _COLUMNS))
            for side in sides:
                print(f"  {side}: CPU seconds per API process per run: {shares[side]}")
                for name, (n, ms) in sorted(slow[side].items(), key=lambda kv: -kv[1][1])[:8]:
                    print(f"  {side}: {int(n):5d} callbacks >= 4 ms, {ms:8.1f} ms in all: {name}")
            if args.stacks:
                for side, counted in stacks.items():
                    print(f"  {side}: sampled stacks of callbacks past 4 ms (1 ms apart)")
                    for stack, n in sorted(counted.items(), key=lambda kv: -kv[1])[:12]:
                        print(f"  {n:6d}  {stack}")
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
