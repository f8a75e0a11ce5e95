"""Rate limits per partner credential (CONTRACT row 17): two windows, 429 with Retry-After.

Every HTTP test here runs against both storages (in-process memory and Redis) and, through the
database fixtures, on SQLite and PostgreSQL. The last test starts two real API processes that
share one budget through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import StartApi
from tests.factories import Credential, Factory
from tests.live import free_port
from tests.proxy import Mode, TcpProxy
from thanx_server.app import create_app
from thanx_server.auth.dependencies import AnyPartner
from thanx_server.kit import ratelimit as kit_ratelimit
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.deps import DbSession
from thanx_server.kit.ratelimit import RateLimiter
from thanx_server.merchant import service as merchant_service
from thanx_server.models import Merchant
from thanx_server.settings import Environment, Settings

Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(
    database: Database, tmp_path: Path, storage_url: str, rate_limit_key_prefix: str
) -> Serve:
    """``async with serve(per_second=..., ...) as client``: the real app, run with its lifespan
    (which closes the limiter's connections), with the given rate-limit settings."""

    @contextlib.asynccontextmanager
    async def run(
        routes: APIRouter | None = None, **overrides: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(
            data_dir=tmp_path,
            embedded_worker=False,
            rate_limit_storage=storage_url,
            rate_limit_key_prefix=rate_limit_key_prefix,
            # A loaded test machine can take longer than the 50 ms production budget.
            rate_limit_redis_budget_ms=2000,
            # The journal's flusher would write on the test's one connection from another task.
            journal_enabled=False,
            **overrides,
        )
        app = create_app(settings, database=database)
        if routes is not None:
            app.include_router(routes)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            yield client

    return run


async def statuses(client: httpx.AsyncClient, cred: Credential, count: int) -> list[int]:
    return [
        (await client.get("/partner/merchants", headers=cred.headers())).status_code
        for _ in range(count)
    ]


def assert_rate_limited(response: httpx.Response) -> int:
    """The 429 envelope; returns Retry-After in seconds."""
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "RATE_LIMITED"
    assert response.json()["error"]["message"]
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    return int(retry_after)


async def test_the_sixth_call_within_a_second_is_refused(serve: Serve, factory: Factory) -> None:
    cred = await factory.partner([await factory.merchant()])
    async with serve() as client:  # the defaults: 5/s and 2,000/15 min
        assert await statuses(client, cred, 5) == [200] * 5
        response = await client.get("/partner/merchants", headers=cred.headers())
    assert assert_rate_limited(response) == 1


async def test_the_15_minute_window_is_enforced_too(serve: Serve, factory: Factory) -> None:
    cred = await factory.partner([await factory.merchant()])
    async with serve(rate_limit_per_second=1000, rate_limit_per_15_minutes=3) as client:
        assert await statuses(client, cred, 3) == [200] * 3
        response = await client.get("/partner/merchants", headers=cred.headers())
    retry_after = assert_rate_limited(response)
    # The first of the three calls frees its slot 15 minutes after it was made.
    assert 15 * 60 - 60 <= retry_after <= 15 * 60
    assert "15 minutes" in response.json()["error"]["message"]


async def test_limits_are_per_credential(serve: Serve, factory: Factory) -> None:
    merchant = await factory.merchant()
    first, second = await factory.partner([merchant]), await factory.partner([merchant])
    async with serve(rate_limit_per_second=1000, rate_limit_per_15_minutes=2) as client:
        assert await statuses(client, first, 3) == [200, 200, 429]
        assert await statuses(client, second, 3) == [200, 200, 429]


async def test_unauthenticated_calls_spend_no_budget(serve: Serve, factory: Factory) -> None:
    cred = await factory.partner([await factory.merchant()])
    forged = cred.headers(Authorization="Bearer " + "0" * 64)  # the right client id, a wrong token
    async with serve(rate_limit_per_second=1000, rate_limit_per_15_minutes=2) as client:
        for _ in range(5):
            response = await client.get("/partner/merchants", headers=forged)
            assert response.status_code == 401
        assert await statuses(client, cred, 3) == [200, 200, 429]


async def test_a_call_refused_per_second_does_not_count_for_15_minutes(
    serve: Serve, factory: Factory
) -> None:
    cred = await factory.partner([await factory.merchant()])
    async with serve(rate_limit_per_second=2, rate_limit_per_15_minutes=4) as client:
        assert await statuses(client, cred, 4) == [200, 200, 429, 429]
        await asyncio.sleep(1.1)  # the per-second window must pass; nothing else is timed
        # Only the two served calls count: two more fit in the 15-minute budget of four.
        assert await statuses(client, cred, 2) == [200, 200]
        await asyncio.sleep(1.1)
        response = await client.get("/partner/merchants", headers=cred.headers())
    assert assert_rate_limited(response) > 1  # the 15-minute window refused it


async def test_a_refused_call_commits_nothing(
    serve: Serve, factory: Factory, session: AsyncSession
) -> None:
    """A test-only write route whose write runs *before* the credential is checked: whatever a
    refused call did is rolled back with its 429."""
    calls = itertools.count()

    async def write_first(db: DbSession) -> None:
        n = next(calls)
        await merchant_service.create_merchant(
            db, name=f"Refused {n}", handle=f"refused{n}x", time_zone="UTC"
        )

    router = APIRouter()

    @router.post("/partner/_write", dependencies=[Depends(write_first)])
    async def write(principal: AnyPartner) -> dict[str, str]:
        return {"client_id": principal.client_id}

    cred = await factory.partner([await factory.merchant()])
    async with serve(router, rate_limit_per_second=1000, rate_limit_per_15_minutes=2) as client:
        codes = [
            (await client.post("/partner/_write", headers=cred.headers())).status_code
            for _ in range(4)
        ]
    assert codes == [200, 200, 429, 429]
    handles = await session.scalars(select(Merchant.handle).where(Merchant.name.like("Refused %")))
    assert sorted(handles) == ["refused0x", "refused1x"]


async def test_each_call_counts_once(serve: Serve, factory: Factory) -> None:
    """The credential is checked, and counted, once per call (whatever the query's spelling)."""
    cred = await factory.partner([await factory.merchant()])
    url = "/partner/users?include_loyalty_attributes=yes"
    async with serve(rate_limit_per_second=1000, rate_limit_per_15_minutes=2) as client:
        codes = [(await client.get(url, headers=cred.headers())).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


async def test_disabled_limits_never_answer_429(serve: Serve, factory: Factory) -> None:
    cred = await factory.partner([await factory.merchant()])
    async with serve(
        rate_limit_enabled=False, rate_limit_per_second=1, rate_limit_per_15_minutes=1
    ) as client:
        assert await statuses(client, cred, 10) == [200] * 10


async def test_unreachable_redis_falls_back_to_per_process_limits(
    database: Database, factory: Factory, tmp_path: Path
) -> None:
    """Fail open, but not unlimited: the process keeps counting on its own (docs/DECISIONS.md)."""
    cred = await factory.partner([await factory.merchant()])
    settings = Settings(
        data_dir=tmp_path,
        embedded_worker=False,
        rate_limit_storage=f"redis://127.0.0.1:{free_port()}",  # nothing listens there
        rate_limit_per_second=1000,
        rate_limit_per_15_minutes=2,
    )
    app = create_app(settings, database=database)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert await statuses(client, cred, 3) == [200, 200, 429]


def test_storage_must_be_memory_or_redis() -> None:
    with pytest.raises(ValueError, match="rate_limit_storage"):
        Settings(rate_limit_storage="memcached://127.0.0.1:11211")


@pytest.mark.live
async def test_two_api_processes_share_one_limit_through_redis(
    fresh_db_url: str, redis_url: str, rate_limit_key_prefix: str, start_api: StartApi
) -> None:
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        async with database.write_sessions() as session, session.begin():
            factory = Factory(session)
            cred = await factory.partner([await factory.merchant()])
    finally:
        await database.dispose()
    env = {
        "THANX_DATABASE_URL": fresh_db_url,
        "THANX_RATE_LIMIT_ENABLED": "true",
        "THANX_RATE_LIMIT_STORAGE": redis_url,
        "THANX_RATE_LIMIT_KEY_PREFIX": rate_limit_key_prefix,
        "THANX_RATE_LIMIT_PER_SECOND": "1000",
        "THANX_RATE_LIMIT_PER_15_MINUTES": "6",
        # A loaded test machine can take longer than the 50 ms production budget.
        "THANX_RATE_LIMIT_REDIS_BUDGET_MS": "2000",
        "THANX_EMBEDDED_WORKER": "false",
    }
    apis = [await start_api(env), await start_api(env)]
    served: list[list[int]] = [[], []]
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        for i in range(12):
            response = await client.get(
                f"{apis[i % 2].url}/partner/merchants", headers=cred.headers()
            )
            served[i % 2].append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error"]["code"] == "RATE_LIMITED"
                assert response.headers["Retry-After"].isdigit()
    # Each process alone saw only six calls, three served: the budget of six is one, shared.
    assert served == [[200, 200, 200, 429, 429, 429], [200, 200, 200, 429, 429, 429]]


# --- Redis that misbehaves: every hit bounded by the budget (issue 12) ------------------------


class _Recorder:
    """Stands in for the limiter's logger: the events it logged, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def warning(self, event: str, **_fields: object) -> None:
        self.events.append(event)

    info = warning


def _constant_route() -> APIRouter:
    """A partner route that touches no database once the credential is cached: concurrent
    calls then wait on nothing but the limiter."""
    router = APIRouter()

    @router.get("/partner/_ping")
    async def ping(principal: AnyPartner) -> dict[str, str]:
        return {"client_id": principal.client_id}

    return router


@pytest.mark.parametrize("fault", ["refuse", "reset", "close", "blackhole"])
async def test_a_failing_redis_costs_each_call_at_most_the_budget_and_recovers(
    database: Database,
    factory: Factory,
    tmp_path: Path,
    redis_url: str,
    rate_limit_key_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    fault: Mode,
) -> None:
    """Fail open within the budget whatever Redis does (refuse, reset, accept-then-close,
    accept-and-never-answer), log once, keep counting per process, use Redis again when back."""
    monkeypatch.setattr(kit_ratelimit, "STORAGE_RETRY_SECONDS", 0.3)
    logged = _Recorder()
    monkeypatch.setattr(kit_ratelimit, "log", logged)
    parsed = urlsplit(redis_url)
    proxy = TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 6379)
    await proxy.start()
    cred = await factory.partner([await factory.merchant()])
    settings = Settings(
        # Production: no sandbox middleware, whose per-request clock read would share the test's
        # one connection between the ten concurrent calls; what is tested here is the limiter.
        environment=Environment.PRODUCTION,
        data_dir=tmp_path,
        embedded_worker=False,
        auth_cache_seconds=60,
        rate_limit_storage=f"redis://127.0.0.1:{proxy.port}",
        rate_limit_key_prefix=f"{rate_limit_key_prefix}-{fault}",
        rate_limit_redis_budget_ms=200,
        rate_limit_per_second=1000,
        rate_limit_per_15_minutes=25,
    )
    app = create_app(settings, database=database)
    app.include_router(_constant_route())
    limiter: RateLimiter = app.state.rate_limiter
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=30
            ) as client,
        ):

            async def call() -> tuple[int, float]:
                started = time.monotonic()
                response = await client.get("/partner/_ping", headers=cred.headers())
                return response.status_code, time.monotonic() - started

            # Healthy: the first call counts in Redis (connection opened, script loaded).
            assert (await call())[0] == 200
            assert limiter._shared_down_until == 0.0

            await proxy.set_mode(fault)
            results = await asyncio.gather(*(call() for _ in range(10)))
            assert [status for status, _ in results] == [200] * 10
            slowest = max(elapsed for _, elapsed in results)
            assert slowest < 1.0, f"a call waited {slowest:.2f} s on a broken Redis"
            assert logged.events.count("ratelimit.storage_unavailable") == 1, logged.events
            # Still limited, per process: 25 in 15 minutes, 11 spent in Redis or here... the
            # process's own counts hold the 10 calls made while Redis was down.
            codes = [(await call())[0] for _ in range(16)]
            assert codes == [200] * 15 + [429], codes

            await proxy.set_mode("pass")
            await asyncio.sleep(0.4)  # past the retry pause
            assert (await call())[0] == 200
            assert logged.events[-1] == "ratelimit.storage_recovered", logged.events
            assert limiter._shared_down_until == 0.0
    finally:
        await proxy.close()
