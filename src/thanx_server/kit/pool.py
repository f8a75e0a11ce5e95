"""The connection pool's queue, first come first served.

SQLAlchemy's asyncio pool (``AsyncAdaptedQueuePool``) queues requests for a connection on an
``asyncio.Queue``, and its ``get`` first takes a free connection without waiting. When a request
returns its connection, the first waiter is woken, but it runs only at a later turn of the event
loop; a request arriving in between finds the connection free and takes it, and the woken waiter
finds the queue empty and waits again *at the back of the line*. Under load (more requests in
flight than pooled connections, which is every saturated process), some requests lose that race
over and over: measured in the API processes under ``wrk -c32`` (``bench.stalls``), the wait for
a connection had a p99 of 200-340 ms and a maximum of 0.7-0.8 s while a request's median was
25-36 ms, and that wait was the reads' p99 (docs/PERFORMANCE.md, issue 17, i17s).

``FairQueuePool`` is the same pool with a queue that hands a returned connection straight to the
longest waiting request; a request only takes a free connection when nobody is waiting. The
pool's size, timeout and overflow rules are SQLAlchemy's own (``poolclass=`` in
``kit/db.create_engine``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


class FairQueue(AsyncAdaptedQueue[ConnectionPoolEntry]):
    """``AsyncAdaptedQueue`` whose waiters are served in the order they came."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        # Futures of the requests waiting, oldest first; only pending ones are handed to.
        self._waiters: collections.deque[asyncio.Future[ConnectionPoolEntry]] = collections.deque()

    def put_nowait(self, item: ConnectionPoolEntry) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)  # handed over: never free for a newcomer to take
                return
        super().put_nowait(item)

    def get(self, block: bool = True, timeout: float | None = None) -> ConnectionPoolEntry:
        if not self._waiters and not self.empty():
            return self.get_nowait()
        if not block:
            raise Empty()
        return await_(self._wait(seconds=timeout))

    async def _wait(self, *, seconds: float | None) -> ConnectionPoolEntry:
        waiter: asyncio.Future[ConnectionPoolEntry] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection, then cancelled or timed out before it ran: pass it on.
                self.put_nowait(waiter.result())
            else:
                waiter.cancel()
                self._forget(waiter)
            if isinstance(exc, TimeoutError):
                raise Empty() from exc
            raise

    def _forget(self, waiter: asyncio.Future[ConnectionPoolEntry]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)


class FairQueuePool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` with ``FairQueue``: connections go to waiters in order."""

    _queue_class = FairQueue
    # Logs where SQLAlchemy's own pool logs (kept at WARNING by kit/logging, THANX_DB_ECHO aside),
    # not under this module's name, which the root logger would print at INFO.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"
