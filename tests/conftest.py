"""Fixtures shared by every test.

* ``db_kind`` is parametrised over ``sqlite`` and ``postgresql``: any test that uses a database
  fixture runs on both.
* ``session`` / ``client`` share one connection whose outer transaction is rolled back after the
  test; the app's per-request commits become savepoint releases inside it.
* ``fresh_db_url`` is a brand-new migrated database for tests that need real commits
  (subprocesses, workers, races).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tests.databases import DatabaseFactory, postgres_reachable, require_postgres
from tests.factories import Factory
from tests.live import ApiProcess, spawn_api, wait_until_up
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Settings


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def db_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DatabaseFactory]:
    kind: str = request.param
    if kind == "postgresql":
        reason = await postgres_reachable()
        if reason is not None:
            if require_postgres():
                pytest.fail(f"PostgreSQL is required (THANX_TEST_REQUIRE_POSTGRES=1): {reason}")
            pytest.skip(f"PostgreSQL unreachable: {reason}")
    factory = DatabaseFactory(kind=kind, workdir=tmp_path_factory.mktemp(f"db-{kind}"))
    await factory.setup()
    yield factory
    await factory.teardown()


@pytest.fixture(scope="session")
def db_kind(db_factory: DatabaseFactory) -> str:
    return db_factory.kind


@pytest.fixture(scope="session")
async def engine(db_factory: DatabaseFactory) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await db_factory.fresh(), pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def database(connection: AsyncConnection, engine: AsyncEngine) -> Database:
    """The production factory, bound to the test's connection (rolled back afterwards)."""
    return Database.from_engine(engine, bind=connection)


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    async with database.write_sessions() as session:
        yield session


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No credential cache: tests revoke and change credentials and expect it at once
    # (test_auth.py covers the cache and its bound).
    return Settings(
        data_dir=tmp_path, rate_limit_enabled=False, embedded_worker=False, auth_cache_seconds=0
    )


@pytest.fixture
def app(settings: Settings, database: Database) -> Any:
    return create_app(settings, database=database)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def factory(session: AsyncSession) -> Factory:
    return Factory(session)


@pytest.fixture
async def fresh_db_url(db_factory: DatabaseFactory) -> str:
    """A new, migrated, empty database that the test may commit to."""
    return await db_factory.fresh()


# --- Rate limits, Redis and real API processes (issue #5) -------------------------------------

REDIS_URL = os.environ.get("THANX_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _redis_unreachable(url: str) -> str | None:
    """None when a Redis answers PING at ``url``, else the reason."""
    parsed = urlsplit(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2
        ) as conn:
            conn.sendall(b"PING\r\n")
            reply = conn.recv(64)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if reply.startswith((b"+PONG", b"-NOAUTH")) else f"unexpected reply {reply!r}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis. Skipped locally when unreachable; required when CI=true."""
    reason = _redis_unreachable(REDIS_URL)
    if reason is not None:
        if os.environ.get("CI") == "true" or os.environ.get("THANX_TEST_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is required in CI ({REDIS_URL}): {reason}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {reason}")
    return REDIS_URL


@pytest.fixture(scope="session")
def rate_limit_key_prefix() -> str:
    """Unique per test run, so parallel runs against one Redis never share counters."""
    return f"thanx-test-{uuid.uuid4().hex[:12]}"


StartApi = Callable[[dict[str, str]], Awaitable[ApiProcess]]


@pytest.fixture
async def start_api(tmp_path: Path) -> AsyncIterator[StartApi]:
    """Start real API processes (`python -m thanx_server serve --no-migrate`); all are stopped
    at teardown, whether the test passed or not."""
    started: list[ApiProcess] = []

    async def start(env: dict[str, str]) -> ApiProcess:
        api = spawn_api(tmp_path, env)
        started.append(api)
        await asyncio.to_thread(wait_until_up, api)
        return api

    try:
        yield start
    finally:
        for api in started:
            api.stop()
