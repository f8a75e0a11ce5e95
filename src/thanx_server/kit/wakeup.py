"""Wake an idle worker when a transaction that gives it work commits, instead of at its next poll.

One small interface, one mechanism per engine:

* ``after_commit(session, channel)``, called inside the transaction that queues the work (a new
  job row, say). PostgreSQL: ``pg_notify(channel)``, which the server delivers only if and when
  the transaction commits, to every process listening (any number of worker processes and
  machines). SQLite: the session's commit sets the channel's waiters in this process (SQLite
  runs one embedded worker beside the API; a standalone SQLite worker keeps polling).
* ``Waiter(database, channel)``, held by a worker loop: ``wait(poll_interval, stop)`` returns when
  woken, when ``stop`` is set, or after ``poll_interval`` (still the fallback: a
  lost notification or a dropped listening connection costs at most one poll).

A rolled-back transaction wakes nobody; a spurious wake-up costs the worker one cheap look for
work. On PostgreSQL the waiter holds one pooled connection for ``LISTEN``; if it dies (a database
restart), the waiter falls back to polling and listens again at its next wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import greenlet_spawn

from thanx_server.kit.db import Database, on_commit

log = structlog.get_logger("thanx.wakeup")

# SQLite: the events of this process's waiters, per channel.
_local: defaultdict[str, set[asyncio.Event]] = defaultdict(set)


def _wake_local(channel: str) -> None:
    for waiting in tuple(_local[channel]):
        waiting.set()


async def after_commit(session: AsyncSession, channel: str) -> None:
    """Wake ``channel``'s waiters once this session's transaction commits (never if it rolls
    back)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(channel, "")))
        return
    on_commit(session, lambda: _wake_local(channel))


class Waiter:
    """What an idle worker loop waits on (see the module's docstring)."""

    def __init__(self, database: Database, channel: str) -> None:
        self.database = database
        self.channel = channel
        self.woken = asyncio.Event()
        self._listening: Any = None  # PostgreSQL: the pooled connection holding LISTEN
        self._lost_connection = False

    async def __aenter__(self) -> Waiter:
        if self.database.is_sqlite:
            _local[self.channel].add(self.woken)
        else:
            await self._listen()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        _local[self.channel].discard(self.woken)
        await self._unlisten()

    def clear(self) -> None:
        """Forget earlier wake-ups: call before looking for work, so that work queued while
        looking wakes the next ``wait`` at once."""
        self.woken.clear()

    async def wait(self, poll_interval: float, stop: asyncio.Event) -> None:
        if self._lost_connection:
            self._lost_connection = False
            await self._drop(self._listening)
            self._listening = None
        if not self.database.is_sqlite and self._listening is None:
            await self._listen()
        woken = asyncio.ensure_future(self.woken.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait(
                (woken, stopped), timeout=poll_interval, return_when="FIRST_COMPLETED"
            )
        finally:
            woken.cancel()
            stopped.cancel()

    def _notified(self, *_args: Any) -> None:
        self.woken.set()

    def _lost(self, *_args: Any) -> None:
        self._lost_connection = True
        self.woken.set()  # look for work now; the next wait listens again

    async def _listen(self) -> None:
        raw: Any = None
        try:
            raw = await self.database.engine.raw_connection()
            driver = raw.driver_connection
            await driver.add_listener(self.channel, self._notified)
            driver.add_termination_listener(self._lost)
        except Exception as exc:  # database down: poll, and try again at the next wait
            log.warning("wakeup.listen_failed", channel=self.channel, error=type(exc).__name__)
            await self._drop(raw)
            return
        self._listening = raw

    async def _unlisten(self) -> None:
        raw, self._listening = self._listening, None
        if raw is None:
            return
        try:
            driver = raw.driver_connection
            driver.remove_termination_listener(self._lost)
            await driver.remove_listener(self.channel, self._notified)  # UNLISTEN
            await greenlet_spawn(raw.close)  # back to the pool, listening to nothing
        except Exception:
            await self._drop(raw)

    @staticmethod
    async def _drop(raw: Any) -> None:
        """Discard a listening connection that failed (its pool slot is freed)."""
        if raw is not None:
            with contextlib.suppress(Exception):
                await greenlet_spawn(raw.invalidate)
