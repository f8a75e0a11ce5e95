"""The app on the database as the server builds it (``Database.from_engine``), both engines.

Most HTTP tests share one rolled-back connection; here requests commit for real, so the server's
own machinery runs: autocommit reads, and on SQLite the per-process writer queue
(``Database.write_lock``), which must be released after every write, whatever its outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.factories import Credential, Factory
from tests.test_campaigns import body
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Settings


@pytest.fixture
async def served(
    fresh_db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Database, Credential, dict[str, str]]]:
    database = Database.from_engine(create_engine(fresh_db_url))
    async with database.write_sessions() as session, session.begin():
        factory = Factory(session)
        merchant = await factory.merchant()
        template = await factory.template(merchant)
        cred = await factory.partner([merchant])
        ids = {"merchant": merchant.id, "template": template.id}
    # No per-process copy of the sandbox state: every request reads the clock, the statement
    # whose place on SQLite (outside the writing transaction) these tests hold to.
    settings = Settings(
        data_dir=tmp_path, rate_limit_enabled=False, embedded_worker=False, sandbox_state_cache_ms=0
    )
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, database, cred, ids
    finally:
        await database.dispose()


async def test_writes_queue_and_every_outcome_releases_the_writer(
    served: tuple[httpx.AsyncClient, Database, Credential, dict[str, str]],
) -> None:
    client, database, cred, ids = served
    assert (database.write_lock is not None) == database.is_sqlite
    good = body(ids["merchant"], ids["template"])
    bad = body(ids["merchant"], ids["template"], name=" ")
    headers = cred.headers()

    async def create(payload: dict[str, Any]) -> int:
        response = await client.post("/partner/campaigns", json=payload, headers=headers)
        return response.status_code

    # A refused write, then twenty concurrent ones, mixed: none may wait for a writer that left.
    assert await asyncio.wait_for(create(bad), 10) == 400
    statuses = await asyncio.wait_for(
        asyncio.gather(*(create(good if i % 4 else bad) for i in range(20))), 30
    )
    assert sorted(statuses) == [201] * 15 + [400] * 5
    if database.write_lock is not None:
        assert not database.write_lock.locked()
    listed = await client.get("/partner/campaigns", params={"per_page": 100}, headers=headers)
    assert listed.json()["pagination"]["total_pages"] == 1
    assert len(listed.json()["campaigns"]) == 15


async def test_autocommit_reads_see_committed_writes(
    served: tuple[httpx.AsyncClient, Database, Credential, dict[str, str]],
) -> None:
    client, _, cred, ids = served
    created = await client.post(
        "/partner/campaigns", json=body(ids["merchant"], ids["template"]), headers=cred.headers()
    )
    assert created.status_code == 201
    campaign = created.json()["campaign"]
    read = await client.get(f"/partner/campaigns/{campaign['id']}", headers=cred.headers())
    assert read.status_code == 200
    assert read.json()["campaign"] == campaign
    merchants = await client.get("/partner/merchants", headers=cred.headers())
    assert [m["id"] for m in merchants.json()["merchants"]] == [ids["merchant"]]


LONG_QUERY = {
    # A second or more of work inside the database engine (sqlite3 releases the GIL meanwhile);
    # the test needs it to outlast the 100 ms stall bound several times over, not a set time.
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 6000000)"
    " SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(1.5)",
}


async def test_a_long_query_does_not_stall_the_event_loop(
    served: tuple[httpx.AsyncClient, Database, Credential, dict[str, str]], db_kind: str
) -> None:
    """Every statement runs off the event loop (asyncpg's protocol, aiosqlite's thread): while
    one query runs for a second or more, /healthz keeps answering within 100 ms."""
    client, database, _, _ = served

    async def long_query() -> float:
        started = time.perf_counter()
        async with database.read_sessions() as session:
            await session.execute(text(LONG_QUERY[db_kind]))
        return time.perf_counter() - started

    running = asyncio.create_task(long_query())
    await asyncio.sleep(0.05)
    latencies = []
    while not running.done():
        started = time.perf_counter()
        response = await client.get("/healthz")
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200
        await asyncio.sleep(0.02)
    took = await running
    assert took >= 0.5, f"the long query took only {took:.2f} s: it proves nothing"
    assert len(latencies) >= 10
    assert max(latencies) < 0.1, f"/healthz stalled {max(latencies) * 1000:.0f} ms"


async def test_sqlite_writers_queue_from_begin_to_commit_only(fresh_db_url: str) -> None:
    """SQLite: a writing transaction waits its turn on the process's writer queue at its
    ``BEGIN IMMEDIATE`` and gives it up at COMMIT or ROLLBACK (kit/db.py), so a second writer
    waits in memory for the first one's COMMIT, and a reader never waits. PostgreSQL has no
    queue: its writers wait on row locks only."""
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        lock = database.write_lock
        if not database.is_sqlite:
            assert lock is None
            return
        assert lock is not None
        async with database.write_sessions() as first:
            assert not lock.locked()
            await first.execute(text("SELECT 1"))
            assert lock.locked()
            await first.rollback()
            assert not lock.locked()

            await first.execute(text("UPDATE merchants SET name = name"))
            second_done = asyncio.Event()

            async def second_writer() -> None:
                async with database.write_sessions() as second, second.begin():
                    await second.execute(text("UPDATE merchants SET name = name"))
                second_done.set()

            second = asyncio.create_task(second_writer())
            async with database.read_sessions() as reader:
                assert (await reader.execute(text("SELECT 1"))).scalar() == 1
            await asyncio.sleep(0.2)
            assert not second_done.is_set()
            await first.commit()
            await asyncio.wait_for(second, 5)
        assert not lock.locked()
    finally:
        await database.dispose()


async def test_sqlite_writer_queue_is_taken_by_the_first_statement_of_the_endpoint(
    served: tuple[httpx.AsyncClient, Database, Credential, dict[str, str]],
) -> None:
    """SQLite: the sandbox clock every request reads is read before the writing transaction
    begins, so the process's writer queue is not held through routing, authentication and
    body validation (issue 17): a write refused by validation, which runs no statement of its
    own, answers while another writer holds the queue, and still carries the sandbox time."""
    client, database, cred, ids = served
    if database.write_lock is None:
        return  # PostgreSQL: no writer queue
    headers = cred.headers()
    # The credential is looked up once (then cached): on a read, so that lookup holds nothing.
    assert (await client.get("/partner/merchants", headers=headers)).status_code == 200
    refused = body(ids["merchant"], ids["template"], start_at="not a time")
    await database.write_lock.acquire()
    try:
        # Before: the clock's statement began the write transaction and waited for the queue.
        response = await asyncio.wait_for(
            client.post("/partner/campaigns", json=refused, headers=headers), 10
        )
    finally:
        database.write_lock.release()
    assert response.status_code == 400
    assert "x-sandbox-time" in response.headers


async def test_sqlite_write_sends_its_begin_with_its_first_statement(fresh_db_url: str) -> None:
    """SQLite: a writing transaction's ``BEGIN IMMEDIATE`` takes the writer queue's turn at
    once but reaches the driver's thread with the transaction's first statement (kit/db.py):
    two statements and a COMMIT are three trips to aiosqlite's thread, not four; a transaction
    that ran nothing sends nothing; each ends its turn on the queue."""
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        lock = database.write_lock
        if lock is None:
            return  # PostgreSQL: no writer queue, no driver thread
        async with database.engine.connect() as plain:
            conn = await plain.execution_options(thanx_sqlite_begin="IMMEDIATE")
            driver: Any = (await conn.get_raw_connection()).driver_connection
            trips: list[Any] = []
            execute = driver._execute

            async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
                trips.append(fn)
                return await execute(fn, *args, **kwargs)

            driver._execute = counted
            await conn.begin()
            assert lock.locked()
            await conn.execute(text("UPDATE merchants SET name = name"))
            assert driver.in_transaction
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
            await conn.commit()
            assert len(trips) == 3
            assert not lock.locked()
            assert not driver.in_transaction

            trips.clear()
            for end in (conn.commit, conn.rollback):
                await conn.begin()
                assert lock.locked()
                await end()
                assert not lock.locked()
            assert trips == []
    finally:
        await database.dispose()
