"""The delivery worker loop: embedded in ``serve`` (one per API process; SQLite's default) or in
each ``thanx-server worker`` process (PostgreSQL: as many as needed, they share the queue)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog

from thanx_server.kit import clock
from thanx_server.kit.db import Database
from thanx_server.sandbox.clock.repository import load_state as load_sandbox_clock
from thanx_server.settings import Settings
from thanx_server.webhook import tasks

log = structlog.get_logger("thanx.webhooks")

PURGE_EVERY_SECONDS = 600.0


class DeliveryWorker:
    def __init__(self, database: Database, settings: Settings, *, owner: str | None = None):
        self.database = database
        self.settings = settings
        self.config = tasks.DeliveryConfig.from_settings(settings, owner)
        # In a sandbox, deliveries fall due on the instance's clock (issue 13), read each round.
        self.clock_loader = load_sandbox_clock if settings.is_sandbox else None
        self.stop = asyncio.Event()
        self._last_purge = 0.0

    async def run(self) -> None:
        log.info("webhooks.worker_started", owner=self.config.owner, slots=self.config.slots)
        async with self.config.new_client() as client:
            deliverer = tasks.Deliverer(self.database, self.config, client)
            try:
                while not self.stop.is_set():
                    try:
                        # The round runs on the clock as it stood at its start; the sends it
                        # starts carry it too (tasks copy the context).
                        with clock.using(await self.current_clock()):
                            claimed = await deliverer.claim()  # records what finished, too
                            if claimed or deliverer.inflight:
                                await deliverer.wait(self.config.poll_interval)
                                continue
                            await self._housekeeping()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                self.stop.wait(), timeout=self.config.poll_interval
                            )
                    except Exception as exc:  # database down, say: log, back off, try again
                        log.warning(
                            "webhooks.worker_error",
                            error=type(exc).__name__,
                            detail=str(exc)[:200],
                        )
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                self.stop.wait(), timeout=self.config.poll_interval
                            )
            finally:
                with contextlib.suppress(Exception):
                    await deliverer.shutdown()
        log.info("webhooks.worker_stopped", owner=self.config.owner)

    async def current_clock(self) -> clock.ClockState:
        if self.clock_loader is None:
            return clock.REAL
        async with self.database.read_sessions() as session:
            return await self.clock_loader(session)

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = now
        purged = await tasks.purge(self.database, self.settings.webhook_log_retention)
        if any(purged):
            log.info("webhooks.log_purged", **purged._asdict())


@contextlib.asynccontextmanager
async def running(database: Database, settings: Settings) -> AsyncIterator[DeliveryWorker]:
    """A delivery worker as a background task for the duration of the block."""
    worker = DeliveryWorker(database, settings)
    task = asyncio.create_task(worker.run(), name="webhook-delivery-worker")
    try:
        yield worker
    finally:
        worker.stop.set()
        try:
            await asyncio.wait_for(task, timeout=settings.webhook_timeout + 15)
        except (TimeoutError, asyncio.CancelledError):
            log.warning("webhooks.worker_stop_timeout")


@contextlib.asynccontextmanager
async def embedded(database: Database, settings: Settings) -> AsyncIterator[None]:
    """The delivery worker inside ``serve`` (``THANX_EMBEDDED_WORKER``), stopped with the app."""
    if not settings.embedded_worker:
        yield
        return
    async with running(database, settings):
        yield
