"""Fixtures shared by every test.

* ``db_kind`` is parametrised over ``sqlite`` and ``postgresql``: any test that uses a database
  fixture runs on both.
* ``session`` / ``client`` share one connection whose outer transaction is rolled back after the
  test; the app's per-request commits become savepoint releases inside it.
* ``fresh_db_url`` is a brand-new migrated database for tests that need real commits
  (the CLI, workers, races).

Tiers. A test that starts a process (``thanx-server serve`` or ``worker``, the installed CLI,
schemathesis) or cuts a network (the TCP fault proxy) is marked ``live``; every other test runs in
this process and is the fast tier, ``make test-fast`` (``pytest -m "not live"``). ``make test``
runs both. The rule is enforced, not just documented: an audit hook fails any test not marked
``live`` that tries to start a process (``subprocess``, ``os.fork``, ``os.posix_spawn``, ...).

The CLI in process. ``cli`` runs ``thanx-server`` through Typer's ``CliRunner`` against
``thanx_server.cli.main.app``. Each command calls ``asyncio.run``, which refuses to start while
the calling thread runs an event loop (async tests run on pytest-asyncio's session loop) and, when
it finishes, clears the calling thread's current loop. So the runner is called in a worker thread
(``asyncio.to_thread``): the command gets a fresh thread with no loop, makes its own, and closes
it, exactly as in its own process, while the session loop stays untouched and the test can keep
using async fixtures (an HTTP client on the same database) around the command. ``CliRunner``
swaps ``sys.stdout``/``sys.stderr`` and the environment for the duration, which is safe because
the test awaits the command and runs nothing else meanwhile. ``tests/test_cli_process.py`` keeps
the few checks that need the real executable (entry point, exit status, stderr of a process).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

# Imported early on purpose: imported late (by its pytest plugin, at the terminal summary) after
# trio is loaded (the Redis client pulls it in), Hypothesis runs trio's registration hook, whose
# HypothesisWarning (an error here) failed any run of only Redis tests, e.g. test_ratelimit.py.
import hypothesis  # noqa: F401
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from tests.cli import Cli
from tests.databases import DatabaseFactory, postgres_reachable, require_postgres
from tests.factories import Factory
from tests.live import ApiProcess, spawn_api, wait_until_up
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Settings

# --- Tiers -------------------------------------------------------------------------------------

# Audit events (https://docs.python.org/3/library/audit_events.html) that start a process.
_PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system",
     "os.exec", "pty.spawn"}
)  # fmt: skip
_running_in_process_test: list[str] = []  # the node id while a test of the fast tier runs


def _refuse_processes(event: str, args: tuple[object, ...]) -> None:
    if _running_in_process_test and event in _PROCESS_EVENTS:
        raise RuntimeError(
            f"{_running_in_process_test[0]} started a process ({event}) but is not marked "
            "`live`: mark it @pytest.mark.live, or keep it in process (tests/conftest.py, Tiers)"
        )


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_refuse_processes)  # for the whole run: an audit hook cannot be removed


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    in_process = item.get_closest_marker("live") is None
    if in_process:
        _running_in_process_test.append(item.nodeid)
    try:
        return (yield)
    finally:
        if in_process:
            _running_in_process_test.clear()


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by database engine
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The live tier first, each tier in the order pytest made (grouped by engine).

    The live tier's tests take seconds each (the fuzzing run minutes), the others milliseconds.
    Started first, the long ones are spread over the parallel workers (README, Testing) while
    the short ones fill the gaps and are what an idle worker takes from a busy one at the end;
    started last, one long test would run on alone while the other workers wait.
    """
    items.sort(key=lambda item: item.get_closest_marker("live") is None)


# --- Databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def _databases(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[dict[str, DatabaseFactory | str]]:
    """Per engine kind, its factory (made on first use), or why that engine is unavailable.

    Held outside the parametrised ``db_factory`` on purpose: pytest tears a parametrised session
    fixture down whenever the next test wants the other parameter, and a worker of a parallel run
    (README, Testing) alternates between the kinds more than one serial run does. Each kind's
    template is migrated once per process and its databases are dropped once, at the end.
    """
    made: dict[str, DatabaseFactory | str] = {}
    yield made
    for factory in made.values():
        if isinstance(factory, DatabaseFactory):
            await factory.teardown()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def db_factory(
    request: pytest.FixtureRequest,
    _databases: dict[str, DatabaseFactory | str],
    tmp_path_factory: pytest.TempPathFactory,
) -> DatabaseFactory:
    kind: str = request.param
    if kind not in _databases:
        reason = await postgres_reachable() if kind == "postgresql" else None
        if reason is None:
            factory = DatabaseFactory(kind=kind, workdir=tmp_path_factory.mktemp(f"db-{kind}"))
            await factory.setup()
            _databases[kind] = factory
        else:
            _databases[kind] = reason
    found = _databases[kind]
    if isinstance(found, str):
        if require_postgres():
            pytest.fail(f"PostgreSQL is required (THANX_TEST_REQUIRE_POSTGRES=1): {found}")
        pytest.skip(f"PostgreSQL unreachable: {found}")
    return found


@pytest.fixture(scope="session")
def db_kind(db_factory: DatabaseFactory) -> str:
    return db_factory.kind


@pytest.fixture(scope="session")
async def engine(db_factory: DatabaseFactory) -> AsyncEngine:
    """One database per kind for the rolled-back tests (``connection``), kept by the factory."""
    return await db_factory.shared_engine()


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


@pytest.fixture
async def committed(fresh_db_url: str) -> AsyncIterator[Database]:
    """The production factory over ``fresh_db_url``: every session its own connection, every
    commit real (for workers running beside the test, which a shared connection cannot carry)."""
    database = Database.from_engine(create_engine(fresh_db_url, pool_size=2))
    yield database
    await database.dispose()


@pytest.fixture
def cli(fresh_db_url: str, tmp_path: Path) -> Cli:
    """``thanx-server`` in this process, on a fresh database (module docstring: why a thread)."""
    return Cli(fresh_db_url, tmp_path)


@pytest.fixture
async def cli_client(fresh_db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app over the same database as ``cli``: what the CLI writes is what it reads."""
    database = Database.from_engine(create_engine(fresh_db_url))
    app = create_app(Settings(data_dir=tmp_path, auth_cache_seconds=0), database=database)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            yield client
    finally:
        await database.dispose()


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


@pytest.fixture(params=["memory", "redis"])
def storage_url(request: pytest.FixtureRequest) -> str:
    """The rate limiter's storage, in memory and in Redis: a test using it runs on both."""
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("redis_url")
    return url


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
