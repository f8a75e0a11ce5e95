"""Shared benchmark plumbing: throwaway databases, machine facts, RESULTS.md sections."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from thanx_server import __version__

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
RESULTS = BENCH_DIR / "RESULTS.md"
PG_ADMIN_DSN = os.environ.get("THANX_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def fresh_postgres(name: str) -> str:
    """Drop and create database ``name``; return its SQLAlchemy URL."""
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    os.environ["THANX_BENCH_PG_VERSION"] = str(version)
    return f"{base}/{name}"


async def drop_postgres(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def fresh_sqlite(name: str) -> str:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite+aiosqlite:///{path}"


def fresh_database(engine: str, name: str) -> str:
    """An empty database named ``name`` on ``engine`` ("postgresql" or "sqlite"), from sync
    code; returns its SQLAlchemy URL (the caller migrates and loads it)."""
    if engine == "postgresql":
        import asyncio

        return asyncio.run(fresh_postgres(name))
    return fresh_sqlite(name)


def server_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment every benchmark serves the project with: rate limits, the embedded
    worker and console logs off (JSON access log on, as an operator runs it)."""
    return {
        **os.environ,
        "THANX_DATABASE_URL": url,
        "THANX_DATA_DIR": str(data_dir),
        "THANX_RATE_LIMIT_ENABLED": "false",
        "THANX_LOG_FORMAT": "json",
        "THANX_EMBEDDED_WORKER": "false",
        **extra,
    }


def machine_facts() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = ""
    try:
        wrk = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout
        wrk = wrk.splitlines()[0] if wrk else ""
    except OSError:
        pass
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; thanx-server {__version__}; "
        f"Python {platform.python_version()}; {os.cpu_count()} cores ({cpu}); "
        f"PostgreSQL {os.environ.get('THANX_BENCH_PG_VERSION', '?')}"
        + (f"; {wrk.split(' Copyright')[0]}" if wrk else "")
    )


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between ``<!-- name -->`` markers in RESULTS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = (
        pattern.sub(lambda _m: block, text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{block}\n"
    )
    RESULTS.write_text(text)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def api_processes(server_pid: int, count: int) -> list[int]:
    """The processes serving requests: the server itself, or its workers when it forks several
    (not the multiprocessing resource tracker uvicorn also starts)."""
    if count <= 1:
        return [server_pid]
    pids = []
    for pid in children(server_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            pids.append(pid)
    return pids
