"""``kit/wakeup``: a committed transaction wakes the channel's waiters, a rolled-back one does not
(on committing databases: PostgreSQL delivers ``NOTIFY`` only at commit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.wakeup import Waiter, after_commit

CHANNEL = "thanx_test_wakeup"


@pytest.fixture
async def committing(fresh_db_url: str) -> AsyncIterator[Database]:
    database = Database.from_engine(create_engine(fresh_db_url))
    yield database
    await database.dispose()


async def test_a_commit_wakes_the_waiter(committing: Database) -> None:
    async with Waiter(committing, CHANNEL) as waiter:
        async with committing.write_sessions() as session, session.begin():
            await after_commit(session, CHANNEL)
        await waiter.wait(30, asyncio.Event())
        assert waiter.woken.is_set()


async def test_a_rollback_wakes_nobody(committing: Database) -> None:
    async with Waiter(committing, CHANNEL) as waiter:
        async with committing.write_sessions() as session:
            await session.begin()
            await after_commit(session, CHANNEL)
            await session.rollback()
        await waiter.wait(0.5, asyncio.Event())
        assert not waiter.woken.is_set()


async def test_stop_ends_the_wait_unwoken(committing: Database) -> None:
    stop = asyncio.Event()
    stop.set()
    async with Waiter(committing, CHANNEL) as waiter:
        await asyncio.wait_for(waiter.wait(60, stop), timeout=30)
        assert not waiter.woken.is_set()


async def test_the_listening_connection_goes_back_to_the_pool(committing: Database) -> None:
    async with Waiter(committing, CHANNEL):
        pass
    assert committing.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
