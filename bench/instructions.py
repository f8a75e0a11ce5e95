"""Before/after in instructions per request: a figure a busy machine does not move.

    .venv/bin/python -m bench.instructions --baseline ../baseline          # both engines
    .venv/bin/python -m bench.instructions --baseline ../baseline --engine sqlite --requests 50

``bench.compare`` measures req/s with wrk, which on this shared 2-core machine swings by 2-4x
from one minute to the next. This counts the CPU instructions one request costs, under
``valgrind --tool=callgrind``, which gives the same count however loaded the machine is.

For each side (``--baseline`` checkout and this one, each with its own ``.venv``) one probe
process builds the app with the side's own ``create_app``, runs its lifespan, and calls it as an
ASGI application directly (no socket, no HTTP parser, no client library: what is counted is the
server's own work). Per endpoint it makes ``--warm`` calls, zeroes callgrind's counters, makes
``--requests`` calls and dumps the counters (client requests through a two-function C library
built here with gcc): start-up and warm-up are not counted. Both sides read the same freshly
loaded database (migrated by this checkout), with the settings ``bench.compare`` uses (no rate
limit, no embedded worker, JSON access log).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import OUT_DIR, fresh_database, machine_facts, server_env, write_section
from bench.compare import _prepare
from bench.dataset import Scale
from bench.http import _headers, endpoints, growth_endpoints

# A two-function C library over valgrind's client requests, so the probe can zero the counters
# after warming up and dump them after the counted requests (callgrind.h ships with valgrind).
_CLIENT = """
#include <valgrind/callgrind.h>
void bench_zero(void) { CALLGRIND_ZERO_STATS; }
void bench_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
"""

# Runs in the measured checkout's interpreter: argv[1] is {"library", "warm", "requests",
# "calls": [{"name", "method", "path", "headers", "body"}, ...]}.
_PROBE = r"""
import asyncio, ctypes, json, sys
from thanx_server.app import create_app
from thanx_server.settings import Settings

plan = json.loads(sys.argv[1])
FAILED = []
if plan.get("profile"):
    # --profile: cProfile instead of callgrind counters (where the time goes, not how much).
    import cProfile, pstats

    class _Profiled:
        def __init__(self):
            self.profiler = None

        def bench_zero(self):
            import time
            HOLD.update(wait=[], hold=[], trips=0, trip=0.0, commit=0.0)
            self.started = (time.perf_counter(), time.process_time())
            if plan["profile"] != "wall":
                self.profiler = cProfile.Profile()
                self.profiler.enable()

        def bench_dump(self, label):
            import time
            calls = 1 if label.endswith(b" (first)") else plan["requests"]
            wall = (time.perf_counter() - self.started[0]) * 1000 / calls
            cpu = (time.process_time() - self.started[1]) * 1000 / calls
            if plan["profile"] == "wall":
                print(f"| {label.decode()} | {wall:.2f} ms | {cpu:.2f} ms |", flush=True)
                hold_report(label.decode())
                if FAILED:
                    print(f"{label.decode()}: {len(FAILED)} answers >= 300: {sorted(set(FAILED))}")
                    FAILED.clear()
                return
            self.profiler.disable()
            print(f"===== {label.decode()}", flush=True)
            stats = pstats.Stats(self.profiler, stream=sys.stdout)
            stats.sort_stats(plan["profile"]).print_stats(plan.get("top", 45))
            sys.stdout.flush()

    client = _Profiled()
else:
    client = ctypes.CDLL(plan["library"])
app = create_app(Settings())

# --profile wall on SQLite: how long each writer holds the process's writer queue (from its
# BEGIN IMMEDIATE's turn to COMMIT/ROLLBACK) and what the hold is made of: the trips to the
# driver's thread inside it (statements, and the COMMIT) and the rest (event-loop turns: other
# requests' work, and the request's own Python between its statements). SQLite serialises
# writers, so 1 / hold is the in-process ceiling of writes per second.
HOLD = {"wait": [], "hold": [], "trips": 0, "trip": 0.0, "commit": 0.0}
if plan.get("profile") == "wall":
    try:
        from thanx_server.kit import db as _db
    except ImportError:
        _db = None
    if _db is not None and hasattr(_db, "_OneTripConnection"):
        import time as _time
        _since = {}
        _Conn, _Cursor = _db._OneTripConnection, _db._OneTripCursor
        _begin, _end, _commit, _trip = (
            _Conn._begin_write, _Conn._end_write, _Conn.commit, _Cursor._trip
        )

        async def _begin_write(self):
            started = _time.perf_counter()
            await _begin(self)
            _since[id(self)] = now = _time.perf_counter()
            HOLD["wait"].append(now - started)

        def _end_write(self):
            since = _since.pop(id(self), None)
            if since is not None and self._holds_write_lock:
                HOLD["hold"].append(_time.perf_counter() - since)
            _end(self)

        def _commit_timed(self):
            held = id(self) in _since  # the commit ends the hold (``_end_write``)
            started = _time.perf_counter()
            try:
                _commit(self)
            finally:
                if held:
                    HOLD["commit"] += _time.perf_counter() - started

        async def _trip_timed(self, operation, parameters, many):
            started = _time.perf_counter()
            try:
                await _trip(self, operation, parameters, many)
            finally:
                since = _since.get(id(self._adapt_connection))
                # A BEGIN IMMEDIATE's trip counts from its turn; one that rides on the next
                # statement's trip (``_begin_pending``) makes none of its own.
                deferred = getattr(self._adapt_connection, "_begin_pending", False)
                if since is not None and not deferred:
                    HOLD["trips"] += 1
                    HOLD["trip"] += _time.perf_counter() - max(started, since)

        _Conn._begin_write, _Conn._end_write, _Conn.commit = _begin_write, _end_write, _commit_timed
        _Cursor._trip = _trip_timed


def hold_report(label):
    holds = HOLD["hold"]
    if holds:
        n = len(holds)
        mean = sum(holds) * 1000 / n
        trips, commit = HOLD["trip"] * 1000 / n, HOLD["commit"] * 1000 / n
        print(
            f"hold|{label}|writes {n}, queue held {mean:.2f} ms per write (median "
            f"{sorted(holds)[n // 2] * 1000:.2f}): statement trips {HOLD['trips'] / n:.1f} = "
            f"{trips:.2f} ms, COMMIT {commit:.2f} ms, the rest {mean - trips - commit:.2f} ms; "
            f"waited for the queue {sum(HOLD['wait']) * 1000 / n:.2f} ms; ceiling "
            f"{1000 / mean:.0f} writes/s",
            flush=True,
        )
    HOLD.update(wait=[], hold=[], trips=0, trip=0.0, commit=0.0)

def asgi_call(spec):
    paths = spec.get("paths") or [spec["path"]]  # one-way writes: a path per request
    taken = [0]

    def scope_of(full):
        path, _, query = full.partition("?")
        return {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": spec["method"], "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query.encode(), "root_path": "", "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000), "headers": [(b"host", b"bench")]
            + [(k.lower().encode(), v.encode()) for k, v in spec["headers"].items()],
        }

    body = (spec["body"] or "").encode()

    async def call():
        scope = scope_of(paths[taken[0] % len(paths)])
        taken[0] += 1
        done = asyncio.Event()
        status = []
        first = [True]

        async def receive():
            if first[0]:
                first[0] = False
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await app(dict(scope), receive, send)
        if status[0] >= 300:
            if plan.get("profile") != "wall":
                raise SystemExit(f"{spec['name']}: HTTP {status[0]}")
            FAILED.append(status[0])  # counted and shown: under concurrency, a fact to report

    return call

def backend_cpu():
    # --growth on PostgreSQL: CPU seconds of the server processes serving the measured
    # database (their process titles name it), from /proc: the database's side of a request,
    # which callgrind does not see.
    import glob, os
    name = plan.get("pg_database")
    if not name:
        return 0.0
    ticks = 0
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                if f" {name} ".encode() not in f.read():
                    continue
            with open(path[: -len("cmdline")] + "stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")

async def main():
    async with app.router.lifespan_context(app):
        for spec in plan["calls"]:
            call = asgi_call(spec)
            if plan.get("first"):
                # The first call of a list at a scale pays its count (a kept total from then on).
                cpu = backend_cpu()
                client.bench_zero()
                await call()
                client.bench_dump((spec["name"] + " (first)").encode())
                print(f"pgcpu|{spec['name']} (first)|{(backend_cpu() - cpu) * 1000:.3f}", flush=True)
            for _ in range(plan["warm"]):
                await call()
            cpu = backend_cpu()
            client.bench_zero()
            concurrency = plan.get("concurrency", 1)

            async def caller(count):
                for _ in range(count):
                    await call()

            await asyncio.gather(*(
                caller(plan["requests"] // concurrency) for _ in range(concurrency)
            ))
            client.bench_dump(spec["name"].encode())
            spent = (backend_cpu() - cpu) * 1000 / plan["requests"]
            print(f"pgcpu|{spec['name']}|{spent:.3f}", flush=True)

asyncio.run(main())
"""


# Under valgrind (~50x slower), or 32 callers on a 10-connection pool of a loaded machine, the
# production bounds on a checkout or a round trip would fire (503s instead of measurements).
_NO_DB_BOUNDS = {
    "THANX_DB_CONNECT_TIMEOUT": "0",
    "THANX_DB_CHECKOUT_TIMEOUT": "0",
    "THANX_DB_STATEMENT_TIMEOUT": "0",
}


def _client_library() -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    source, library = OUT_DIR / "callgrind_client.c", OUT_DIR / "callgrind_client.so"
    source.write_text(_CLIENT)
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def per_request(
    checkout: Path,
    plan: dict[str, Any],
    env: dict[str, str],
    server_ms: dict[str, float] | None = None,
) -> dict[str, int]:
    """Instructions per request of each call in ``plan``, run in ``checkout``'s interpreter
    (a ``(first)`` call is one request). ``server_ms``, if given, receives the PostgreSQL
    server's CPU milliseconds per request (``plan["pg_database"]``)."""
    python = checkout / ".venv" / "bin" / "python"
    if plan.get("profile") == "wall":  # --growth --cpu: CPU microseconds per request instead
        out = subprocess.run(
            [str(python), "-c", _PROBE, json.dumps(plan)],
            env=env, cwd=checkout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise SystemExit(f"probe failed in {checkout}:\n{out.stderr[-3000:]}")
        counts = {
            found[1]: round(float(found[3]) * 1000)
            for line in out.stdout.splitlines()
            if (found := re.match(r"^\| (.+) \| ([\d.]+) ms \| ([\d.]+) ms \|$", line))
        }
        _server_ms(out.stdout, server_ms)
        return counts
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.%p",
             str(python), "-c", _PROBE, json.dumps(plan)],
            env=env, cwd=checkout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise SystemExit(
                f"probe failed in {checkout} ({out.returncode}):\n{out.stderr[-3000:]}"
            )
        counts = {}
        for dump in Path(tmp).iterdir():
            text = dump.read_text(errors="replace")
            label = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if label and total:
                calls = 1 if label.group(1).endswith(" (first)") else plan["requests"]
                counts[label.group(1)] = round(int(total.group(1)) / calls)
    _server_ms(out.stdout, server_ms)
    return counts


def _server_ms(stdout: str, server_ms: dict[str, float] | None) -> None:
    if server_ms is not None:
        for line in stdout.splitlines():
            if line.startswith("pgcpu|"):
                _, name, ms = line.split("|")
                server_ms[name] = float(ms)


def _calls(data: Any, only: str, run: int = 0, per_run: int = 0) -> list[dict[str, Any]]:
    """The probe's calls: ``endpoints`` whose name contains ``only``. A one-way write's paths
    are cut into runs of ``per_run`` (each probe run, and each side running at the same time,
    moves rewards of its own)."""
    return [
        {"name": e.name, "method": e.method, "path": e.path, "headers": _headers(data, e),
         "body": e.body, "paths": list(e.paths[run * per_run : (run + 1) * per_run])}
        for e in endpoints(data) if only in e.name
    ]  # fmt: skip


def profile_engine(
    engine: str,
    scale: Scale,
    warm: int,
    requests: int,
    sort: str,
    only: str,
    baseline: Path | None = None,
    rounds: int = 3,
    concurrency: int = 1,
) -> list[str]:
    """``--profile``: each endpoint's counted requests under cProfile, in this checkout.

    ``--profile wall`` prints wall and CPU milliseconds per request instead; with ``--baseline``
    the two checkouts run in turns (``rounds`` each, after, before, after, ...), so a busy
    moment of the machine lands on both. ``--concurrency``: that many callers at once (the
    wall time per request is then the inverse of the in-process throughput: with SQLite it
    shows the write lock and the driver's thread trips, which instruction counts do not)."""
    url = fresh_database(engine, f"thanx_bench_profile_{engine}")
    data = _prepare(url, scale)
    data_dir = OUT_DIR / f"profile-{engine}"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(url, data_dir, **_NO_DB_BOUNDS)
    calls = _calls(data, only)
    plan = {
        "profile": sort,
        "warm": warm,
        "requests": requests,
        "calls": calls,
        "concurrency": concurrency,
    }
    sides = [("after", Path(__file__).resolve().parents[1])]
    if baseline is not None and sort == "wall":
        sides = [*sides, ("before", baseline.resolve())] * rounds
    walls: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run, (side, checkout) in enumerate(sides):
        print(f"[{engine}] {side} ({checkout})", flush=True)
        python = checkout / ".venv" / "bin" / "python"
        plan["calls"] = _calls(data, only, run, warm + requests)
        out = subprocess.run(
            [str(python), "-c", _PROBE, json.dumps(plan)], env=env, cwd=checkout, check=False,
            stderr=subprocess.PIPE, stdout=subprocess.PIPE if sort == "wall" else None,
            text=True,
        )  # fmt: skip
        if out.returncode != 0:
            raise SystemExit(f"probe failed in {checkout}:\n{out.stderr[-3000:]}")
        for line in (out.stdout or "").splitlines():
            if line.startswith("hold|"):
                print(f"  {side}: {line}", flush=True)
            if ">= 300" in line or '"level": "warning"' in line or '"status": 503' in line:
                print(line, flush=True)
            if found := re.match(r"^\| (.+) \| ([\d.]+) ms \| ([\d.]+) ms \|$", line):
                print(line, flush=True)
                walls.setdefault((side, found[1]), []).append((float(found[2]), float(found[3])))
    rows = []
    if baseline is not None and sort == "wall":
        for call in calls:
            name = str(call["name"])
            before, after = walls[("before", name)], walls[("after", name)]
            bw, aw = (statistics.median(w for w, _ in runs) for runs in (before, after))
            bc, ac = (statistics.median(c for _, c in runs) for runs in (before, after))
            rows.append(
                f"| {engine} | {name} | {bw:.2f} / {aw:.2f} ms ({bw / aw:.2f}x) | "
                f"{bc:.2f} / {ac:.2f} ms ({bc / ac:.2f}x) |"
            )
            print(rows[-1], flush=True)
    return rows


def compare_engine(
    engine: str, baseline: Path, scale: Scale, warm: int, requests: int, only: str = ""
) -> list[str]:
    name = f"thanx_bench_instr_{engine}"
    url = fresh_database(engine, name)
    data = _prepare(url, scale)
    data_dir = OUT_DIR / f"instructions-{engine}"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = server_env(url, data_dir, PYTHONHASHSEED="0", **_NO_DB_BOUNDS)
    sides = {"before": baseline.resolve(), "after": Path(__file__).resolve().parents[1]}
    calls = _calls(data, only)
    plan = {"library": str(_client_library()), "warm": warm, "requests": requests, "calls": calls}
    plans = [plan | {"calls": _calls(data, only, run, warm + requests)} for run in range(2)]
    with ThreadPoolExecutor(2) as pool:
        before, after = pool.map(per_request, sides.values(), plans, [env, env])
    rows = []
    for call in calls:
        name = str(call["name"])
        rows.append(
            f"| {engine} | {name} | {before[name] / 1e6:.2f} M | {after[name] / 1e6:.2f} M | "
            f"{before[name] / after[name]:.2f}x |"
        )
        print(rows[-1], flush=True)
    return rows


def growth(
    engine: str, scales: list[str], warm: int, requests: int, cpu: bool = False
) -> list[str]:
    """Instructions per request of issue 17's reads (``growth_endpoints``) at each scale, this
    checkout only: the databases of ``bench.explain`` (loaded there if absent, kept), a fresh
    credential minted in each. On SQLite the engine runs inside the counted process, so its
    work is counted too; on PostgreSQL only the API process's (the server's is in
    ``bench.explain``'s plans)."""
    import asyncio

    from bench import explain

    checkout = Path(__file__).resolve().parents[1]
    library = str(_client_library())
    server_ms: dict[str, dict[str, float]] = {}
    names: list[str] = []
    plans: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    for scale in scales:  # the databases one at a time (a load is memory- and CPU-heavy)

        async def prepare(scale: str = scale) -> Any:
            database = await explain._database(engine, scale, reuse=True)
            try:
                return await explain.loaded_from(database)
            finally:
                await database.dispose()

        data = asyncio.run(prepare())
        data_dir = OUT_DIR / f"instructions-growth-{engine}-{scale}"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "THANX_DATABASE_URL": explain._url(engine, scale),
            "THANX_DATA_DIR": str(data_dir),
            "THANX_RATE_LIMIT_ENABLED": "false",
            "THANX_LOG_FORMAT": "json",
            "THANX_EMBEDDED_WORKER": "false",
            "PYTHONHASHSEED": "0",
            **_NO_DB_BOUNDS,
        }
        calls = [
            {"name": e.name, "method": e.method, "path": e.path, "headers": _headers(data, e), "body": e.body}
            for e in growth_endpoints(data)
        ]  # fmt: skip
        names = [n for call in calls for n in (f"{call['name']} (first)", str(call["name"]))]
        plan = {
            "library": library,
            "warm": warm,
            "requests": requests,
            "calls": calls,
            "first": True,
            "profile": "wall" if cpu else None,
            "pg_database": explain._url(engine, scale).rsplit("/", 1)[1]
            if engine == "postgresql"
            else None,
        }
        plans[scale] = (plan, env)
        server_ms[scale] = {}

    def count(scale: str) -> dict[str, int]:
        # The scales' probes at once, each in its own process (callgrind counts are per process).
        plan, env = plans[scale]
        found = per_request(checkout, plan, env, server_ms[scale])
        print(scale, found, server_ms[scale], flush=True)
        return found

    with ThreadPoolExecutor(len(scales)) as pool:
        counts = dict(zip(scales, pool.map(count, scales), strict=True))
    rows = []
    for name in names:
        unit = " ms" if cpu else " M"  # CPU microseconds, or instructions
        cells = " | ".join(f"{counts[s][name] / (1e3 if cpu else 1e6):.2f}{unit}" for s in scales)
        ratio = counts[scales[-1]][name] / counts[scales[0]][name]
        server = " / ".join(f"{server_ms[s].get(name, 0):.2f}" for s in scales)
        if engine != "postgresql":
            server = "(counted in process)"
        rows.append(f"| {engine} | {name} | {cells} | {ratio:.2f} | {server} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, help="the 'before' checkout")
    parser.add_argument(
        "--profile",
        choices=["tottime", "cumulative", "wall"],
        help="cProfile this checkout instead (wall: only wall and CPU ms per request)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, help="with --profile wall: callers at once"
    )
    parser.add_argument("--only", default="", help="only the endpoints whose name has this")
    parser.add_argument(
        "--growth", nargs="+", metavar="SCALE", help="per-request cost at these scales instead"
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="with --growth: the probe's CPU time per request, without valgrind (a count at 1M "
        "rows under valgrind takes ~50 times its 15-20 s)",
    )
    parser.add_argument("--label", default="one-stack", help="RESULTS.md section name")
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--scale", choices=["full", "small"], default="small")
    parser.add_argument("--warm", type=int, default=20, help="requests before counting")
    parser.add_argument("--requests", type=int, default=100, help="requests counted")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()

    def commit(path: Path) -> str:
        return subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip

    engines = ["postgresql", "sqlite"] if args.engine == "both" else [args.engine]
    if args.growth:
        rows = [
            row
            for engine in engines
            for row in growth(engine, args.growth, args.warm, args.requests, args.cpu)
        ]
        table = (
            "| engine | endpoint | " + " | ".join(f"at {s}" for s in args.growth)
            + f" | {args.growth[-1]} / {args.growth[0]} | PostgreSQL server CPU, ms per "
            + f"request ({' / '.join(args.growth)}) |\n|---|---|"
            + "---|" * (len(args.growth) + 2) + "\n" + "\n".join(rows)
        )  # fmt: skip
        print(table)
        if not args.no_write:
            load = os.getloadavg()
            measure = "CPU time" if args.cpu else "Instructions"
            write_section(
                f"instructions-growth{'-cpu' if args.cpu else ''}"
                + ("" if args.engine == "both" else f"-{args.engine}"),
                f"## {measure} per request as the tables grow (`python -m bench.instructions "
                f"--growth {' '.join(args.growth)} --engine {args.engine} --warm {args.warm} "
                f"--requests {args.requests}{' --cpu' if args.cpu else ''}`)\n\n"
                f"{machine_facts()}; load average at the end "
                f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} ("
                + (
                    "it inflates CPU time too, less than wall time"
                    if args.cpu
                    else "callgrind does not see it; the server CPU column it moves a little"
                )
                + "); a `(first)` row is the list's first "
                f"call at that scale (its count), then {args.requests} requests counted after "
                f"{args.warm} (in-process ASGI calls). "
                "SQLite runs inside the measured process (its work is counted); PostgreSQL's "
                "work is not: its server's CPU is the last column (from /proc, 10 ms ticks).\n\n"
                + table
                + "\n",
            )
        return
    if args.profile:
        scale = Scale.named(args.scale)
        wall_rows: list[str] = []
        for engine in engines:
            wall_rows += profile_engine(
                engine,
                scale,
                args.warm,
                args.requests,
                args.profile,
                args.only,
                args.baseline,
                concurrency=args.concurrency,
            )
        if wall_rows and not args.no_write:
            write_section(
                f"wall-{args.label}",
                f"## Before/after in milliseconds per request: {args.label} (`python -m "
                f"bench.instructions --profile wall --baseline ... --concurrency "
                f"{args.concurrency}`)\n\n{machine_facts()}; before = {commit(args.baseline)}, "
                f"after = {commit(Path(__file__).resolve().parents[1])} (working tree); "
                f"{args.requests} in-process ASGI calls after {args.warm}, {args.concurrency} "
                f"at a time, the two checkouts in turns (3 rounds, median); data: {args.scale} "
                "data set. Wall = 1 / in-process throughput; CPU = the process's CPU time per "
                "request. Ratios are before/after (above 1: faster).\n\n"
                "| engine | endpoint | wall, before / after | CPU, before / after |\n"
                "|---|---|---|---|\n" + "\n".join(wall_rows),
            )
        return
    if args.baseline is None:
        parser.error("--baseline is required (or --profile, or --growth)")
    scale = Scale.named(args.scale)
    rows = []
    for engine in engines:
        rows += compare_engine(engine, args.baseline, scale, args.warm, args.requests, args.only)
    if args.no_write:
        return
    write_section(
        f"instructions-{args.label}",
        f"## Before/after in instructions: {args.label} (`python -m bench.instructions "
        f"--baseline ...`)\n\n{machine_facts()}; before = {commit(args.baseline)}, after = "
        f"{commit(Path(__file__).resolve().parents[1])} (working tree); callgrind, "
        f"{args.requests} requests counted after {args.warm}, in-process ASGI calls; data: "
        f"{args.scale} data set. Throughput ratio = before/after instructions.\n\n"
        "| engine | endpoint | before, per request | after, per request | after/before "
        "throughput |\n|---|---|---|---|---|\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
