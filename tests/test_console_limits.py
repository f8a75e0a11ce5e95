"""The console and rate limits (issue 15): the overview shows the budgets the limiter counts (its
one read, ``RateLimiter.budgets``), and failed sign-ins are limited per client address and per
client id. Every test runs with the in-process counts and with Redis, on both engines."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import Credential, Factory, OperatorCredentialHeaders
from tests.live import free_port
from tests.test_console import csrf_of, sign_in, signed_in
from thanx_server.app import create_app
from thanx_server.kit.db import Database
from thanx_server.settings import Settings

Connect = Callable[..., Awaitable[httpx.AsyncClient]]
Serve = Callable[..., AbstractAsyncContextManager[Connect]]


@pytest.fixture
def serve(
    database: Database, tmp_path: Path, storage_url: str, rate_limit_key_prefix: str
) -> Serve:
    """``async with serve(**settings) as connect``: the app run with its lifespan, its limits
    counted in ``storage_url`` (a fresh key prefix each time, so Redis counts never leak between
    tests); ``connect(address)`` is an HTTP client calling from that client address."""

    @contextlib.asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Connect]:
        settings = Settings(
            data_dir=tmp_path,
            embedded_worker=False,
            auth_cache_seconds=0,
            rate_limit_storage=storage_url,
            rate_limit_key_prefix=f"{rate_limit_key_prefix}-{uuid.uuid4().hex[:8]}",
            rate_limit_redis_budget_ms=2000,  # a loaded test machine, not production's 50 ms
            # The journal's flusher would write on the test's one connection from another task.
            journal_enabled=False,
            **overrides,
        )
        app = create_app(settings, database=database)
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))

            async def connect(address: str = "127.0.0.1") -> httpx.AsyncClient:
                transport = httpx.ASGITransport(app=app, client=(address, 50000))
                return await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://t")
                )

            yield connect

    return run


@pytest.fixture
async def ops(factory: Factory) -> OperatorCredentialHeaders:
    return await factory.operator()


ROW = re.compile(
    r'<tr data-client-id="(?P<client>[^"]+)" data-window="(?P<window>[^"]+)">.*?'
    r'class="num">(?P<limit>\d+)</td><td class="num budget-used">(?P<used>\d+)</td>'
    r'<td class="num budget-remaining">(?P<remaining>\d+)</td>',
    re.S,
)


def budgets(page: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(client id, window) -> (limit, used, remaining), as the overview shows them."""
    return {
        (m["client"], m["window"]): (int(m["limit"]), int(m["used"]), int(m["remaining"]))
        for m in ROW.finditer(page)
    }


async def calls(client: httpx.AsyncClient, cred: Credential, count: int) -> None:
    for _ in range(count):
        response = await client.get("/partner/merchants", headers=cred.headers())
        assert response.status_code == 200, response.text


async def test_the_overview_shows_each_credentials_budget_moving_after_its_calls(
    serve: Serve, factory: Factory, ops: OperatorCredentialHeaders
) -> None:
    merchant = await factory.merchant()
    busy = await factory.partner([merchant])
    idle = await factory.partner([merchant])
    async with serve(rate_limit_per_second=50, rate_limit_per_15_minutes=100) as connect:
        client = await connect()
        await signed_in(client, ops.client_id, ops.access_token)
        before = budgets((await client.get("/console")).text)
        assert before[(busy.client_id, "15 minutes")] == (100, 0, 100)
        assert before[(idle.client_id, "second")] == (50, 0, 50)

        await calls(client, busy, 3)
        after = budgets((await client.get("/console")).text)
    assert after[(busy.client_id, "15 minutes")] == (100, 3, 97)
    assert after[(busy.client_id, "second")][1] in {0, 1, 2, 3}  # the 1 s window moves on
    assert after[(idle.client_id, "15 minutes")] == (100, 0, 100)


async def test_a_partner_sees_only_its_own_budget(serve: Serve, factory: Factory) -> None:
    merchant = await factory.merchant()
    mine = await factory.partner([merchant])
    other = await factory.partner([merchant])
    async with serve(rate_limit_per_15_minutes=100) as connect:
        client = await connect()
        await calls(client, mine, 2)
        await calls(client, other, 4)
        await signed_in(client, mine.client_id, mine.access_token)
        shown = budgets((await client.get("/console")).text)
    assert set(shown) == {(mine.client_id, "second"), (mine.client_id, "15 minutes")}
    assert shown[(mine.client_id, "15 minutes")] == (100, 2, 98)


async def test_the_overview_says_when_rate_limiting_is_off(
    serve: Serve, ops: OperatorCredentialHeaders
) -> None:
    async with serve(rate_limit_enabled=False) as connect:
        client = await connect()
        await signed_in(client, ops.client_id, ops.access_token)
        page = (await client.get("/console")).text
    assert "Rate limiting is off" in page
    assert budgets(page) == {}


async def wrong_sign_in(client: httpx.AsyncClient, client_id: str) -> httpx.Response:
    return await sign_in(client, client_id, "not-the-token")


def assert_refused(response: httpx.Response, who: str) -> None:
    assert response.status_code == 429, response.text
    assert f"Too many failed sign-ins from {who} (3 in 15 minutes)" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert 1 <= int(response.headers["retry-after"]) <= 900
    # The form is there again, to use once the wait is over.
    assert csrf_of(response.text)


async def test_failed_sign_ins_are_limited_per_client_id_from_any_address(
    serve: Serve, factory: Factory, ops: OperatorCredentialHeaders
) -> None:
    partner = await factory.partner([await factory.merchant()])
    async with serve(console_sign_in_failures_per_15_minutes=3) as connect:
        guesser, elsewhere = await connect("10.0.0.1"), await connect("10.0.0.2")
        for _ in range(3):
            assert (await wrong_sign_in(guesser, ops.client_id)).status_code == 401
        # The right token, from another address, is refused too: the client id is spent.
        refused = await sign_in(elsewhere, ops.client_id, ops.access_token)
        assert_refused(refused, "this client id")
        assert ops.access_token not in refused.text
        # Another credential from that other address is not affected.
        assert (
            await sign_in(elsewhere, partner.client_id, partner.access_token)
        ).status_code == 303


async def test_failed_sign_ins_are_limited_per_client_address(
    serve: Serve, ops: OperatorCredentialHeaders
) -> None:
    async with serve(console_sign_in_failures_per_15_minutes=3) as connect:
        guesser, colleague = await connect("10.0.0.1"), await connect("10.0.0.2")
        for n in range(3):  # a different client id each time: only the address adds up
            assert (await wrong_sign_in(guesser, f"guess{n}")).status_code == 401
        assert_refused(await sign_in(guesser, ops.client_id, ops.access_token), "this address")
        assert (await sign_in(colleague, ops.client_id, ops.access_token)).status_code == 303


async def test_successful_sign_ins_are_not_counted(
    serve: Serve, ops: OperatorCredentialHeaders
) -> None:
    async with serve(console_sign_in_failures_per_15_minutes=3) as connect:
        client = await connect()
        for _ in range(5):
            assert (await sign_in(client, ops.client_id, ops.access_token)).status_code == 303
            client.cookies.clear()


async def test_with_redis_down_the_overview_shows_this_processs_counts(
    database: Database, tmp_path: Path, factory: Factory, ops: OperatorCredentialHeaders
) -> None:
    cred = await factory.partner([await factory.merchant()])
    settings = Settings(
        data_dir=tmp_path,
        embedded_worker=False,
        auth_cache_seconds=0,
        rate_limit_per_15_minutes=100,
        rate_limit_storage=f"redis://127.0.0.1:{free_port()}",  # nothing listens there
        journal_enabled=False,
    )
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        await calls(client, cred, 2)
        await signed_in(client, ops.client_id, ops.access_token)
        page = (await client.get("/console")).text
    assert "counted by this process" in page
    assert budgets(page)[(cred.client_id, "15 minutes")] == (100, 2, 98)
