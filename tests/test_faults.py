"""The database going away and coming back while the server runs (PostgreSQL behind a TCP proxy).

Never touches the machine's PostgreSQL itself: only the proxy between the app and it is broken,
in each way a network breaks (tests/proxy.py): refused, reset, accept-then-close and blackholed
(a partition: packets dropped, not refused). With the default ``THANX_DB_*`` timeouts
(kit/db.DbTimeouts) every request answers 503 within 5 s and the app recovers by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tests.conftest import StartApi
from tests.factories import assert_error
from tests.proxy import Mode, TcpProxy
from thanx_server.app import create_app
from thanx_server.demo.loader import load_demo
from thanx_server.kit.db import Database, DbTimeouts, create_engine
from thanx_server.models import EndUserToken
from thanx_server.settings import Settings

pytestmark = pytest.mark.live


@pytest.fixture
async def proxied(
    db_kind: str, fresh_db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[TcpProxy, httpx.AsyncClient, dict[str, str], dict[str, object]]]:
    if db_kind != "postgresql":
        pytest.skip("an embedded SQLite file has no network to lose")
    url = make_url(fresh_db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    # No journal: in process the client waits for the whole app, so a journal flush a request
    # triggers after its answer (bounded by the same timeouts) would count against the bound
    # here, which a client of a real server never waits for.
    settings = Settings(
        data_dir=tmp_path, rate_limit_enabled=False, embedded_worker=False, journal_enabled=False
    )
    database = Database.from_engine(
        create_engine(
            url.set(port=proxy.port).render_as_string(hide_password=False),
            pool_size=3,
            timeouts=DbTimeouts.from_settings(settings),  # the defaults, as the server uses them
        )
    )
    async with database.write_sessions() as session, session.begin():
        demo = await load_demo(session, tmp_path)
    app = create_app(settings, database=database)
    headers = {"Authorization": f"Bearer {demo.access_token}", "X-ClientId": demo.client_id}
    merchant = next(iter(demo.merchants.values()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield proxy, c, headers, {"merchant_id": merchant.id}
    await proxy.close()
    await database.dispose()


async def _count_tokens(proxy_db_url: str) -> int:
    engine = create_engine(proxy_db_url)
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(EndUserToken))
    await engine.dispose()
    return int(count or 0)


async def test_unreachable_database_is_503_and_recovers_without_restart(
    proxied: tuple[TcpProxy, httpx.AsyncClient, dict[str, str], dict[str, object]],
    fresh_db_url: str,
) -> None:
    proxy, client, headers, ids = proxied
    assert (await client.get("/partner/merchants", headers=headers)).status_code == 200
    assert (await client.get("/readyz")).status_code == 200

    await proxy.cut()

    assert_error(
        await client.get("/partner/merchants", headers=headers), 503, "SERVICE_UNAVAILABLE"
    )
    assert_error(await client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
    # A write while the database is gone: refused, and nothing of it lands later.
    users = await client.post(
        "/partner/oauth/token",
        json={**ids, "email": "jane.smith@example.com"},
        headers=headers,
    )
    assert_error(users, 503, "SERVICE_UNAVAILABLE")
    assert (await client.get("/healthz")).status_code == 200  # the process itself is fine

    await proxy.restore()

    recovered = [
        (await client.get("/partner/merchants", headers=headers)).status_code for _ in range(3)
    ]
    assert recovered[-1] == 200, recovered
    assert (await client.get("/readyz")).status_code == 200
    assert await _count_tokens(fresh_db_url) == 0
    minted = await client.post(
        "/partner/oauth/token", json={**ids, "email": "jane.smith@example.com"}, headers=headers
    )
    assert minted.status_code == 200
    assert await _count_tokens(fresh_db_url) == 1


@pytest.mark.parametrize("fault", ["refuse", "reset", "close", "blackhole"])
async def test_a_broken_database_network_is_503_within_5_s_and_recovers(
    proxied: tuple[TcpProxy, httpx.AsyncClient, dict[str, str], dict[str, object]],
    fresh_db_url: str,
    fault: Mode,
) -> None:
    proxy, client, headers, ids = proxied
    assert (await client.get("/partner/merchants", headers=headers)).status_code == 200

    await proxy.set_mode(fault)

    async def timed(method: str, path: str, **kw: object) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await client.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
        return response, time.monotonic() - started

    # Concurrent calls: each on its own pooled connection (pool of 3) or waiting for one.
    results = await asyncio.gather(
        timed("GET", "/partner/merchants"),
        timed("GET", "/partner/locations"),
        timed("POST", "/partner/oauth/token", json={**ids, "email": "jane.smith@example.com"}),
        timed("GET", "/partner/users"),
    )
    results.append(await timed("GET", "/readyz"))
    for response, elapsed in results:
        assert_error(response, 503, "SERVICE_UNAVAILABLE")
        assert elapsed < 5.0, f"{response.request.url.path} took {elapsed:.2f} s"

    await proxy.set_mode("pass")

    recovered = [
        (await client.get("/partner/merchants", headers=headers)).status_code for _ in range(3)
    ]
    assert recovered[-1] == 200, recovered
    # Nothing of the refused write landed.
    assert await _count_tokens(fresh_db_url) == 0


async def test_the_real_server_under_uvloop_bounds_a_blackholed_redis_and_database(
    db_kind: str,
    fresh_db_url: str,
    tmp_path: Path,
    redis_url: str,
    rate_limit_key_prefix: str,
    start_api: StartApi,
) -> None:
    """The same faults against a real ``serve`` process: uvicorn runs it on uvloop (installed,
    so its ``loop="auto"`` picks it), not the asyncio loop of the in-process tests."""
    pytest.importorskip("uvloop")
    if db_kind != "postgresql":
        pytest.skip("an embedded SQLite file has no network to lose")
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        async with database.write_sessions() as session, session.begin():
            demo = await load_demo(session, tmp_path)
    finally:
        await database.dispose()
    url = make_url(fresh_db_url)
    db_proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    redis = urlsplit(redis_url)
    redis_proxy = TcpProxy(redis.hostname or "127.0.0.1", redis.port or 6379)
    await db_proxy.start()
    await redis_proxy.start()
    try:
        api = await start_api(
            {
                "THANX_DATABASE_URL": url.set(port=db_proxy.port).render_as_string(
                    hide_password=False
                ),
                "THANX_RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{redis_proxy.port}",
                "THANX_RATE_LIMIT_KEY_PREFIX": f"{rate_limit_key_prefix}-uvloop",
                "THANX_RATE_LIMIT_PER_SECOND": "1000",
                "THANX_EMBEDDED_WORKER": "false",
                "THANX_AUTH_CACHE_SECONDS": "60",
            }
        )
        headers = {"Authorization": f"Bearer {demo.access_token}", "X-ClientId": demo.client_id}
        async with httpx.AsyncClient(base_url=api.url, trust_env=False, timeout=30) as client:

            async def timed(path: str) -> tuple[int, float]:
                started = time.monotonic()
                response = await client.get(path, headers=headers)
                return response.status_code, time.monotonic() - started

            assert (await timed("/partner/scopes"))[0] == 200  # the credential is now cached

            await redis_proxy.set_mode("blackhole")
            results = await asyncio.gather(*(timed("/partner/scopes") for _ in range(8)))
            assert [status for status, _ in results] == [200] * 8
            assert max(elapsed for _, elapsed in results) < 1.0, results

            await redis_proxy.set_mode("pass")
            await db_proxy.set_mode("blackhole")
            results = await asyncio.gather(*(timed("/partner/merchants") for _ in range(4)))
            assert [status for status, _ in results] == [503] * 4
            assert max(elapsed for _, elapsed in results) < 5.0, results

            await db_proxy.set_mode("pass")
            recovered = [(await timed("/partner/merchants"))[0] for _ in range(3)]
            assert recovered[-1] == 200, recovered
        assert "ratelimit.storage_unavailable" in api.output()
    finally:
        await db_proxy.close()
        await redis_proxy.close()
