"""HTTP benchmark: the server as an operator runs it, loaded with a realistic data set, under wrk.

    .venv/bin/python -m bench.http                 # PostgreSQL (2 API processes) and SQLite (1)
    .venv/bin/python -m bench.http --engine postgresql --duration 10 --scale small

For each engine: creates a throwaway database, migrates it, loads the data set (bench/dataset.py),
starts ``thanx-server serve`` (+ ``thanx-server worker`` when the server has one), runs
``wrk -t1 -c32`` against each endpoint, samples the API processes' resident memory, prints a table
and writes it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import (
    OUT_DIR,
    api_processes,
    drop_postgres,
    fresh_postgres,
    fresh_sqlite,
    machine_facts,
    rss_kib,
    server_env,
    write_section,
)
from bench.dataset import Loaded, Scale, load
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    auth: str = "partner"  # or "user", or "pool" (the one-way pool member's token)
    body: str | None = None
    # One-way writes: each request takes the next of these paths (an activate or a finalize
    # moves its reward for good, so a repeated path would measure the 422 instead).
    paths: tuple[str, ...] = ()


# Where each one-way endpoint's next unused path is, across wrk runs and compared checkouts.
_next_path: dict[str, int] = {}


def take_path(endpoint: Endpoint) -> str:
    """The path of one request to ``endpoint`` outside wrk (a check that it answers 2xx): for
    a one-way write, the pool's next unused one."""
    if not endpoint.paths:
        return endpoint.path
    taken = _next_path.get(endpoint.name, 0)
    _next_path[endpoint.name] = taken + 1
    return endpoint.paths[taken % len(endpoint.paths)]


def endpoints(data: Loaded) -> list[Endpoint]:
    merchant = data.merchant_ids[0]
    member_merchant, email = data.sample_emails[len(data.sample_emails) // 2]
    campaign_body = json.dumps({"campaign": {
        "merchant_id": merchant, "name": "Bench campaign", "objective": "Load", "fine_print": "None",
        "start_at": "2026-12-01T00:00:00Z", "end_at": "2027-01-01T00:00:00Z",
        "redeemable_from": "2026-12-01T00:00:00Z", "redeemable_to": "2027-02-01T00:00:00Z",
        "variants": [{"name": "Treatment", "reward_template_id": data.template_ids[merchant]}, {"name": "Control"}],
    }})  # fmt: skip
    return [
        Endpoint("GET /partner/merchants", "GET", "/partner/merchants"),
        Endpoint("GET /partner/campaigns/{id}", "GET", f"/partner/campaigns/{data.campaign_ids[len(data.campaign_ids) // 2]}"),
        Endpoint("GET /rewards (end-user token)", "GET", "/rewards", auth="user"),
        Endpoint("GET /partner/users?email=", "GET", f"/partner/users?merchant_id={member_merchant}&email={email}"),
        Endpoint("POST /partner/campaigns", "POST", "/partner/campaigns", body=campaign_body),
        *hot_writes(data),
        *one_way_writes(data),
    ]  # fmt: skip


def one_way_writes(data: Loaded) -> list[Endpoint]:
    """Activate and finalize, each request on a reward of its own (the data set's pool)."""
    if not data.available_reward_ids:
        return []
    activate = tuple(f"/rewards/{r}/activate" for r in data.available_reward_ids)
    finalize = tuple(f"/rewards/{r}/finalize" for r in data.active_reward_ids)
    return [
        Endpoint("PATCH /rewards/{id}/activate", "PATCH", activate[0], auth="pool", paths=activate),
        Endpoint("PATCH /rewards/{id}/finalize", "PATCH", finalize[0], auth="pool", paths=finalize),
    ]


def hot_writes(data: Loaded) -> list[Endpoint]:
    """The other hot writes of issue 17 that can be repeated as they are (one body per wrk run):
    a tag upsert, a purchase, a one-identifier issuance job (activate and finalize, which move
    a reward one way, are ``one_way_writes``)."""
    merchant, user = data.sample_members[len(data.sample_members) // 2]
    _, email = next(e for e in data.sample_emails if e[0] == merchant)
    campaign, variant = data.treatments[merchant]
    tags = json.dumps(
        {"merchant_id": merchant, "user_ids": [user], "key": "bench", "values": ["a", "b"]}
    )
    purchase = json.dumps({"purchase": {
        "merchant_id": merchant, "user_id": user, "amount": 12.5, "purchased_at": "2026-11-30T12:00:00Z",
    }})  # fmt: skip
    issue = json.dumps({
        "merchant_id": merchant, "campaign_id": campaign, "variant_id": variant,
        "identifiers": [{"type": "email", "value": email}],
    })  # fmt: skip
    return [
        Endpoint("PUT /partner/tags", "PUT", "/partner/tags", body=tags),
        Endpoint("POST /partner/purchases", "POST", "/partner/purchases", body=purchase),
        Endpoint("POST /partner/campaigns/issue (1 identifier)", "POST", "/partner/campaigns/issue", body=issue),
    ]  # fmt: skip


def growth_endpoints(data: Loaded) -> list[Endpoint]:
    """Issue 17's reads as the tables grow: every list at its first and its last page, the wide
    credential (all 100 merchants) and one merchant, the filters the lists offer."""
    users = data.counts["users"]
    merchant = data.merchant_ids[0]
    member_merchant, email = data.sample_emails[len(data.sample_emails) // 2]
    tag_merchant, tag_user = data.tagged_user
    last_wide, last_one = -(-users // 10), -(-users // len(data.merchant_ids) // 10)
    return [
        Endpoint("GET /partner/merchants", "GET", "/partner/merchants"),
        Endpoint("GET /partner/campaigns/{id}", "GET", f"/partner/campaigns/{data.campaign_ids[len(data.campaign_ids) // 2]}"),
        Endpoint("GET /partner/campaigns (page 1)", "GET", "/partner/campaigns"),
        Endpoint("GET /rewards (end-user token)", "GET", "/rewards", auth="user"),
        Endpoint("GET /partner/users?email=", "GET", f"/partner/users?merchant_id={member_merchant}&email={email}"),
        Endpoint("GET /partner/users (all merchants, page 1)", "GET", "/partner/users"),
        Endpoint("GET /partner/users (all merchants, last page)", "GET", f"/partner/users?page={last_wide}"),
        Endpoint("GET /partner/users (one merchant, last page)", "GET", f"/partner/users?merchant_id={merchant}&page={last_one}"),
        Endpoint("GET /partner/users?updated_after= (all merchants)", "GET", "/partner/users?updated_after=2026-11-01T00:00:30Z"),
        Endpoint("GET /partner/feedbacks (all merchants, page 1)", "GET", "/partner/feedbacks"),
        Endpoint("GET /partner/feedbacks?states[]=rated (all merchants)", "GET", "/partner/feedbacks?states[]=rated"),
        Endpoint("GET /partner/feedbacks (one merchant, last page)", "GET", f"/partner/feedbacks?merchant_id={merchant}&page={last_one}"),
        Endpoint("GET /partner/feedbacks?updated_after= (one merchant)", "GET", f"/partner/feedbacks?merchant_id={merchant}&updated_after=2026-10-31T00:00:00Z"),
        Endpoint("GET /partner/tags?user_ids[]=", "GET", f"/partner/tags?merchant_id={tag_merchant}&user_ids[]={tag_user}"),
    ]  # fmt: skip


def _headers(data: Loaded, endpoint: Endpoint) -> dict[str, str]:
    if endpoint.auth in ("user", "pool"):
        token = data.user_token if endpoint.auth == "user" else data.pool_token
        return {"Authorization": f"Bearer {token}", "Accept-Version": "v4.0"}
    return {
        "Authorization": f"Bearer {data.access_token}",
        "X-ClientId": data.client_id,
        "Accept-Version": "v4.0",
        "Content-Type": "application/json",
    }


def _wrk(
    base: str, endpoint: Endpoint, headers: dict[str, str], duration: int, connections: int
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"wrk.method = {json.dumps(endpoint.method)}\n")
        if endpoint.body is not None:
            script.write(f"wrk.body = {json.dumps(endpoint.body)}\n")
        for key, value in headers.items():
            script.write(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}\n")
        start = _next_path.get(endpoint.name, 0)
        if endpoint.paths:
            # One thread (-t1), so one Lua state hands out the paths in turn, read from a file
            # (a literal table of 40,000 strings is past LuaJIT's constants per function); past
            # the end of the pool it starts over, and the repeats show up as non-2xx answers.
            # ``done`` prints how many it handed out (on PostgreSQL more than the completed
            # requests and connections together, seen: a 400 for a used reward), where the next
            # run starts.
            listed = Path(script.name).with_suffix(".paths")
            listed.write_text("\n".join(endpoint.paths[start:] or endpoint.paths) + "\n")
            script.write(
                f"paths = {{}}\nfor line in io.lines({json.dumps(str(listed))}) do\n"
                "  paths[#paths + 1] = line\nend\nhanded = 0\nthreads = {}\n"
                "setup = function(thread) table.insert(threads, thread) end\n"
                "request = function()\n  handed = handed + 1\n"
                "  return wrk.format(nil, paths[(handed - 1) % #paths + 1])\nend\n"
                "done = function(summary, latency, requests)\n  local n = 0\n"
                "  for _, t in ipairs(threads) do n = n + t:get('handed') end\n"
                "  io.write(string.format('handed out: %d\\n', n))\nend\n"
            )
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script.name, base + endpoint.path],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
        Path(script.name).with_suffix(".paths").unlink(missing_ok=True)
    if endpoint.paths:
        handed = re.search(r"handed out: (\d+)", out)
        _next_path[endpoint.name] = start + int(handed.group(1) if handed else len(endpoint.paths))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "non_2xx": float(m.group(1))
        if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out))
        else 0.0,
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }


def _wrk_median(
    base: str, endpoint: Endpoint, headers: dict[str, str], duration: int, connections: int
) -> dict[str, float]:
    """``--repeat`` timed runs; the median of each measure (runs here vary by ~30%)."""
    runs = [_wrk(base, endpoint, headers, duration, connections) for _ in range(_REPEAT[0])]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]} | {
        "non_2xx": sum(run["non_2xx"] for run in runs)
    }


_REPEAT = [3]  # set from --repeat


def _ms(value: str) -> float:
    number, unit = float(re.match(r"[\d.]+", value).group(0)), re.sub(r"[\d.]", "", value)  # type: ignore[union-attr]
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


class RssSampler:
    """Samples the resident memory of the API processes every 100 ms; keeps the peak."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, *(rss_kib(p) / 1024 for p in self.pids))
            time.sleep(0.1)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def now_mib(self) -> float:
        return max(rss_kib(p) / 1024 for p in self.pids)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "thanx_server", *args],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _has_worker_command() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "thanx_server", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return " worker " in out.stdout


def run_reference(url: str, merchant_id: str, duration: int, connections: int) -> list[str]:
    """The issue's reference points (bench/reference_app.py), 2 processes, same wrk settings."""
    port = 18010
    log = OUT_DIR / "reference.log"
    env = {**os.environ, "REFERENCE_DATABASE_URL": url, "REFERENCE_MERCHANT_ID": merchant_id}
    with log.open("wb") as fh:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.reference_app:app", "--port", str(port),
             "--workers", "2", "--no-access-log", "--log-level", "warning"],
            env=env, stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        _wait_ready(f"{base}/ping", server, log)
        for name, path in (
            ("bare FastAPI ping", "/ping"),
            ("FastAPI + SQLAlchemy ORM get-by-pk", "/orm"),
            ("FastAPI + plain asyncpg get-by-pk", "/asyncpg"),
        ):
            endpoint = Endpoint(name, "GET", path)
            _wrk(base, endpoint, {}, 2, connections)  # warm-up
            result = _wrk_median(base, endpoint, {}, duration, connections)
            rows.append(
                f"| reference (2 proc) | {name} | {result['rps']:,.0f} | "
                f"{result['p50_ms']:.1f} | {result['p99_ms']:.1f} | {int(result['non_2xx'])} |"
            )
            print(rows[-1], flush=True)
    finally:
        _stop(server)
    return rows


def _wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        time.sleep(0.2)


def run_engine(
    engine_name: str,
    scale: Scale,
    duration: int,
    connections: int,
    processes: int,
    reference: bool = False,
    endpoint_set: Callable[[Loaded], list[Endpoint]] = endpoints,
    loaded: list[Loaded] | None = None,
) -> list[str]:
    """Load ``scale`` into a fresh database, serve it and measure ``endpoint_set``'s calls;
    the table rows (the loaded data's description appended to ``loaded`` when given)."""
    db_name = f"thanx_bench_http_{engine_name}"
    url = (
        asyncio.run(fresh_postgres(db_name))
        if engine_name == "postgresql"
        else fresh_sqlite(db_name)
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    data_dir = OUT_DIR / f"data-{engine_name}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)

    async def prepare() -> tuple[Loaded, float]:
        database = Database.from_engine(create_engine(url))
        try:
            await migrate.upgrade(database.engine)
            started = time.perf_counter()
            loaded = await load(database, scale)
            return loaded, time.perf_counter() - started
        finally:
            await database.dispose()

    data, load_s = asyncio.run(prepare())
    print(f"[{engine_name}] loaded {data.counts} in {load_s:.1f}s", flush=True)
    data.counts["load_s"] = round(load_s)
    if loaded is not None:
        loaded.append(data)
    rows = run_reference(url, data.merchant_ids[0], duration, connections) if reference else []
    port = 18000 + (1 if engine_name == "postgresql" else 2)
    env = server_env(url, data_dir)
    server = _start(
        ["serve", "--no-migrate", "--port", str(port), "--workers", str(processes)],
        env,
        data_dir / "server.log",
    )
    workers = [_start(["worker"], env, data_dir / "worker.log")] if _has_worker_command() else []
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{base}/readyz", server, data_dir / "server.log")
        time.sleep(1.0)
        api_pids = api_processes(server.pid, processes)
        with RssSampler(api_pids) as rss:
            for endpoint in endpoint_set(data):
                headers = _headers(data, endpoint)
                warm = httpx.request(
                    endpoint.method,
                    base + take_path(endpoint),
                    headers=headers,
                    content=endpoint.body,
                    timeout=120,  # a deep page of a large list, read cold
                )
                if warm.status_code >= 300:
                    rows.append(
                        f"| {engine_name} | {endpoint.name} | n/a (HTTP {warm.status_code}) | | | |"
                    )
                    print(rows[-1], flush=True)
                    continue
                _wrk(base, endpoint, headers, 2, connections)  # warm-up
                result = _wrk_median(base, endpoint, headers, duration, connections)
                rows.append(
                    f"| {engine_name} ({processes} proc) | {endpoint.name} | {result['rps']:,.0f} | "
                    f"{result['p50_ms']:.1f} | {result['p99_ms']:.1f} | {int(result['non_2xx'])} |"
                )
                print(rows[-1], flush=True)
            after = rss.now_mib()
        rows.append(
            f"| {engine_name} ({processes} proc) | API process RSS, MiB | peak {rss.peak_mib:.0f} | after {after:.0f} | | |"
        )
        print(rows[-1], flush=True)
    finally:
        for process in (*workers, server):
            _stop(process)
        if engine_name == "postgresql":
            asyncio.run(drop_postgres(db_name))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--scale", choices=["full", "small"], default="full")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per endpoint")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit(
            "wrk is required: install it from your distribution's packages (e.g. apt-get install wrk)"
        )
    _REPEAT[0] = args.repeat
    scale = Scale.named(args.scale)
    header = [
        "| engine | endpoint | req/s | p50 ms | p99 ms | non-2xx |",
        "|---|---|---|---|---|---|",
    ]
    rows: list[str] = []
    if args.engine in ("postgresql", "both"):
        rows += run_engine(
            "postgresql", scale, args.duration, args.connections, processes=2, reference=True
        )
    if args.engine in ("sqlite", "both"):
        rows += run_engine("sqlite", scale, args.duration, args.connections, processes=1)
    table = "\n".join(header + rows)
    print("\n" + table)
    if not args.no_write:
        write_section(
            f"http-{args.scale}",
            f"## HTTP read/write path (`python -m bench.http --scale {args.scale}`)\n\n"
            f"{machine_facts()}; wrk -t1 -c{args.connections} -d{args.duration}s per endpoint, "
            f"median of {args.repeat} runs after a 2 s warm-up.\n"
            f"Data: {scale.merchants} merchants, {scale.users:,} users, "
            f"{scale.merchants * scale.campaigns_per_merchant:,} campaigns, "
            f"{scale.users * scale.rewards_per_user:,} rewards.\n\n{table}\n",
        )


if __name__ == "__main__":
    main()
