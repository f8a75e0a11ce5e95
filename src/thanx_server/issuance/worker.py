"""The worker loop: embedded in ``serve`` (app lifespan) or standalone (``thanx-server worker``).

Run any number of workers, in any number of processes and machines, against one PostgreSQL
database: jobs are claimed with a lease (``tasks.claim``), so each job has one owner at a time and
a dead worker's job is picked up when its lease expires. On SIGTERM/SIGINT a worker finishes the
chunk in hand, gives its lease back and exits; another worker resumes the job at once.

An idle worker does not wait for its next poll when a job is queued: the transaction that writes
the job wakes it on commit (``kit/wakeup``: PostgreSQL ``LISTEN``/``NOTIFY`` across processes,
the committing session itself on SQLite). The poll interval stays the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator

import structlog

from thanx_server.issuance import repository, tasks
from thanx_server.kit.db import Database, DbTimeouts, create_engine
from thanx_server.kit.metrics import count_connections, forget_this_process
from thanx_server.kit.wakeup import Waiter
from thanx_server.promotion import tasks as promotion_tasks
from thanx_server.sandbox.clock.repository import load_state as load_sandbox_clock
from thanx_server.settings import Settings
from thanx_server.webhook.worker import DeliveryWorker

log = structlog.get_logger("thanx.worker")

PURGE_EVERY_SECONDS = 600.0


class IssuanceWorker:
    def __init__(self, database: Database, settings: Settings, *, owner: str | None = None):
        self.database = database
        self.settings = settings
        self.config = tasks.WorkerConfig.from_settings(settings, owner)
        self.stop = asyncio.Event()
        self._last_purge = 0.0
        # In a sandbox, jobs run on the instance's clock (issue 13), read from the database.
        self.clock_loader = load_sandbox_clock if settings.is_sandbox else None

    async def run(self) -> None:
        log.info("worker.started", owner=self.config.owner)
        async with Waiter(self.database, repository.WAKEUP_CHANNEL) as waiter:
            await self._loop(waiter)
        log.info("worker.stopped", owner=self.config.owner)

    async def _loop(self, waiter: Waiter) -> None:
        while not self.stop.is_set():
            # Before looking: a job committed while we look wakes the next wait at once.
            waiter.clear()
            try:
                worked = await tasks.run_once(
                    self.database,
                    self.config,
                    should_stop=self.stop.is_set,
                    clock_loader=self.clock_loader,
                ) or await promotion_tasks.run_once(
                    self.database,
                    owner=self.config.owner,
                    lease=self.config.lease,
                    should_stop=self.stop.is_set,
                )
                if not worked:
                    await self._housekeeping()
            except Exception as exc:  # database down, say: log, back off, try again
                log.warning("worker.error", error=type(exc).__name__, detail=str(exc)[:200])
                worked = False
            if not worked:
                await waiter.wait(self.settings.worker_poll_interval, self.stop)

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = now
        purged = await tasks.purge_idempotency_keys(self.database)
        if purged:
            log.info("worker.idempotency_keys_purged", count=purged)


async def run_standalone(settings: Settings) -> None:
    """``thanx-server worker``: one issuance and one webhook delivery loop until SIGTERM/SIGINT."""
    database = Database.from_engine(
        create_engine(
            settings.effective_database_url,
            pool_size=3,  # issuance, deliveries, and the wake-up's LISTEN (PostgreSQL)
            echo=settings.db_echo,
            timeouts=DbTimeouts.from_settings(settings),
        )
    )
    count_connections(database.engine)
    worker = IssuanceWorker(database, settings)
    # The same process also delivers webhooks: any number of these share the delivery queue.
    deliveries = DeliveryWorker(database, settings, owner=worker.config.owner)
    loop = asyncio.get_running_loop()

    def stop() -> None:
        worker.stop.set()
        deliveries.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(worker.run(), deliveries.run())
    finally:
        await database.dispose()
        forget_this_process()


@contextlib.asynccontextmanager
async def embedded_worker(database: Database, settings: Settings) -> AsyncIterator[None]:
    """The worker inside ``serve`` (``THANX_EMBEDDED_WORKER``), stopped with the app."""
    if not settings.embedded_worker:
        yield
        return
    worker = IssuanceWorker(database, settings)
    task = asyncio.create_task(worker.run(), name="issuance-worker")
    try:
        yield
    finally:
        worker.stop.set()
        try:
            await asyncio.wait_for(task, timeout=30)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("worker.stop_timeout")
