"""The connection pool serves waiters in the order they came (kit/pool.py).

The pool is driven directly, with stand-in connections, so the order of the event loop's turns
is the test's: no database, no timing.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from sqlalchemy import exc
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util.concurrency import greenlet_spawn

from thanx_server.kit.pool import FairQueuePool


class _Connection:
    """What the pool needs of a DBAPI connection."""

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


def _pool(timeout: float = 5) -> FairQueuePool:
    return FairQueuePool(cast(Any, _Connection), pool_size=1, max_overflow=0, timeout=timeout)


async def _take(pool: FairQueuePool, name: str, order: list[str]) -> None:
    connection: PoolProxiedConnection = await greenlet_spawn(pool.connect)
    order.append(name)
    await asyncio.sleep(0)
    await greenlet_spawn(connection.close)


async def test_a_returned_connection_goes_to_the_longest_waiter_not_a_newcomer() -> None:
    pool = _pool()
    order: list[str] = []
    held = await greenlet_spawn(pool.connect)
    waiter = asyncio.create_task(_take(pool, "waiter", order))
    await asyncio.sleep(0.01)  # the waiter is queued for the one connection
    # A request that reaches the pool in the loop's next turn, ahead of the woken waiter (the
    # race a saturated server runs all the time): it must queue behind the waiter.
    newcomer = asyncio.create_task(_take(pool, "newcomer", order))
    await greenlet_spawn(held.close)
    await asyncio.wait_for(asyncio.gather(waiter, newcomer), 5)
    assert order == ["waiter", "newcomer"]


async def test_a_waiter_cancelled_after_being_handed_a_connection_passes_it_on() -> None:
    pool = _pool()
    order: list[str] = []
    held = await greenlet_spawn(pool.connect)
    first = asyncio.create_task(_take(pool, "first", order))
    second = asyncio.create_task(_take(pool, "second", order))
    await asyncio.sleep(0.01)
    await greenlet_spawn(held.close)  # handed to the first waiter, which has not run yet
    first.cancel()
    await asyncio.wait_for(second, 5)
    assert order == ["second"]
    assert pool.checkedout() == 0
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_waiter_past_the_pool_timeout_gives_up_and_leaves_the_queue() -> None:
    pool = _pool(timeout=0.05)
    held = await greenlet_spawn(pool.connect)
    with pytest.raises(exc.TimeoutError):
        await greenlet_spawn(pool.connect)
    await greenlet_spawn(held.close)
    order: list[str] = []
    await asyncio.wait_for(_take(pool, "next", order), 5)  # the connection is free again
    assert order == ["next"]
    assert pool.checkedout() == 0
