"""Benchmark: what a sandbox adds to a read (issue 13: the clock and fault-rule check per request).

    .venv/bin/python -m bench.sandbox_overhead

The same app over the same demo database (SQLite), ``THANX_ENVIRONMENT=production`` and
``sandbox`` alternately, three runs each: 400 cached-credential ``GET /partner/merchants`` in
process (ASGI), CPU time of the process per request (its threads included; wall time on a
shared machine says more about the neighbours). Prints the medians.
"""

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import fresh_sqlite
from thanx_server.app import create_app
from thanx_server.demo.loader import load_demo
from thanx_server.kit import migrate
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Environment, Settings


async def main():
    url = fresh_sqlite("mw_cost")
    engine = create_engine(url, pool_size=2)
    db = Database.from_engine(engine)
    await migrate.upgrade(engine)
    tmp = tempfile.mkdtemp()
    async with db.write_sessions() as s, s.begin():
        ctx = await load_demo(s, Path(tmp))
    h = {"Authorization": f"Bearer {ctx.access_token}", "X-ClientId": ctx.client_id}
    res = {}
    for env in [Environment.PRODUCTION, Environment.SANDBOX] * 3:
        app = create_app(
            Settings(
                data_dir=Path(tmp),
                environment=env,
                embedded_worker=False,
                rate_limit_enabled=False,
                access_log=False,
            ),
            database=db,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://x"
        ) as c:
            for _ in range(50):
                await c.get("/partner/merchants", headers=h)
            n = 400
            t = time.process_time()
            for _ in range(n):
                r = await c.get("/partner/merchants", headers=h)
                assert r.status_code == 200
            res.setdefault(env.value, []).append((time.process_time() - t) / n * 1e6)
    for k, v in res.items():
        print(k, "CPU us/request", [round(x) for x in v], "median", round(statistics.median(v)))
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
