"""Fixtures shared by every test.

* ``db_kind`` is parametrised over ``sqlite`` and ``postgresql``: any test that uses a database
  fixture runs on both.
* ``session`` / ``client`` share one connection whose outer transaction is rolled back after the
  test; the app's per-request commits become savepoint releases inside it.
* ``fresh_db_url`` is a brand-new migrated database for tests that need real commits
  (subprocesses, workers, races).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tests.databases import DatabaseFactory, postgres_reachable, require_postgres
from tests.factories import Factory
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine, make_sessionmaker
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
    sessions = make_sessionmaker(connection, join_transaction_mode="create_savepoint")
    return Database(engine=engine, read_sessions=sessions, write_sessions=sessions)


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
