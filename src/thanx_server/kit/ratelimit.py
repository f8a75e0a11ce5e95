"""Rate-limit machinery on the async API of the ``limits`` library: windows counted per key.

Which windows apply to whom is policy, decided elsewhere (``auth/ratelimit.py``: two windows per
partner credential). Every window of a limiter is enforced on every hit. The strategy is the
*moving window*: each hit is a timestamp, and a hit is allowed when fewer than ``limit``
timestamps fall inside the last window. It is exact (a fixed window lets a client send twice the
limit across a window boundary) at the cost of keeping up to ``limit`` timestamps per key and
window, which is small here.

Storage:

* ``memory://``: counts live in the process. Right for the embedded sandbox (one process).
* ``redis://`` / ``rediss://``: counts live in Redis, so every API process pointed at the same
  Redis shares one budget per key. Each hit is one atomic Lua script; timestamps come from
  the API hosts' clocks, so hosts should run NTP.

When Redis cannot be reached, or does not answer within the limiter's overall **budget** per
hit (``THANX_RATE_LIMIT_REDIS_BUDGET_MS``, 50 ms by default: connecting, every command, every
retry, all included), the limiter does not fail or hold the request: it logs
``ratelimit.storage_unavailable`` once, falls back to this process's own in-memory counts (so a
key is still limited, to at most the limit times the number of processes) and tries Redis
again after ``STORAGE_RETRY_SECONDS``. A Redis that accepts connections and then never answers
(at ``maxclients``, or a proxy with no backend) costs each request at most the budget, and only
until the first such request marks Redis down. The budget ends a hit by cancelling it, which may
leave a connection mid-reply, so the pool is dropped then and rebuilt on the next try.
Rate limits protect capacity; they are not what keeps data
safe, so a Redis outage should not take the API down with it (docs/DECISIONS.md).

Reading: ``budgets(key)`` answers, per window, the limit, the hits in the window now, what
remains and when the oldest of them leaves it, from the storage ``hit`` would count in (Redis,
or this process's counts while Redis is down), without counting a hit. It is the one read of the
counts (the console's overview shows it) and is bounded by the same budget.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from thanx_server.kit.errors import RateLimited
from thanx_server.kit.metrics import RATE_LIMIT_REFUSALS

if TYPE_CHECKING:
    import coredis

log = structlog.get_logger("thanx.ratelimit")

# Socket-level bounds of one Redis connection; the limiter's overall budget per hit is shorter.
REDIS_TIMEOUT_SECONDS = 0.5
DEFAULT_BUDGET_SECONDS = 0.05
# After a Redis failure, how long requests use the in-process counts before Redis is tried again.
STORAGE_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Window:
    item: RateLimitItem
    label: str


@dataclass(frozen=True, slots=True)
class Budget:
    """One window of one key, as of now."""

    window: str  # the window's label ("second", "15 minutes")
    limit: int
    used: int  # hits inside the window now
    remaining: int
    reset_at: datetime | None  # when the oldest of those hits leaves the window; None: unused
    shared: bool  # read from Redis (every process's hits) rather than this process's counts


class RateLimiter:
    """Counts hits per key in moving windows, in order; raises ``RateLimited`` (429).

    Built once per process; nothing connects until the first hit.
    """

    def __init__(
        self,
        windows: tuple[Window, ...],
        *,
        storage_url: str = "memory://",
        key_prefix: str = "thanx",
        budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    ) -> None:
        self.windows = windows
        self.budget_seconds = budget_seconds
        self._memory = MemoryStorage()
        self._local = MovingWindowRateLimiter(self._memory)
        self._pool: coredis.ConnectionPool | None = None
        self._shared: MovingWindowRateLimiter | None = None
        self._shared_down_until = 0.0
        url = storage_url.removeprefix("async+")
        if url.startswith(("redis://", "rediss://")):
            import coredis  # imported here: ~0.8 s the memory-only sandbox never needs

            # We own the pool so that shutdown can close its sockets.
            self._pool = coredis.ConnectionPool.from_url(
                url,
                connect_timeout=REDIS_TIMEOUT_SECONDS,
                stream_timeout=REDIS_TIMEOUT_SECONDS,
            )
            storage = RedisStorage(
                f"async+{url}",
                key_prefix=f"{key_prefix}:ratelimit",
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]  # forwarded to coredis.Redis
            )
            self._shared = MovingWindowRateLimiter(storage)

    @property
    def shared(self) -> bool:
        """True when counts are kept in Redis (shared by every process)."""
        return self._shared is not None

    async def hit(self, key: str) -> None:
        """Count one hit of ``key``; raise ``RateLimited`` (with Retry-After) if over.

        A hit refused by one window does not count against the windows after it (so a client
        that bursts too fast does not also burn its longer budget).
        """
        shared = self._shared
        if shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                async with asyncio.timeout(self.budget_seconds):
                    await self._hit(shared, key)
            except (StorageError, OSError, TimeoutError) as exc:
                self._storage_failed(exc)
            else:
                if self._shared_down_until:
                    self._shared_down_until = 0.0
                    log.info("ratelimit.storage_recovered")
                return
        await self._hit(self._local, key)

    async def budgets(self, key: str) -> list[Budget]:
        """Each window's budget of ``key`` now (no hit is counted), from the storage a hit
        would use; Redis failing or slower than the budget: this process's counts instead."""
        shared = self._shared
        if shared is not None and time.monotonic() >= self._shared_down_until:
            try:
                async with asyncio.timeout(self.budget_seconds):
                    return await self._budgets(shared, key, shared=True)
            except (StorageError, OSError, TimeoutError) as exc:
                self._storage_failed(exc)
        return await self._budgets(self._local, key, shared=False)

    async def spent(self, key: str) -> Budget | None:
        """The first window of ``key`` with nothing left (without counting a hit), or None.
        For limits that count only some events (failures) but refuse before any attempt."""
        for budget in await self.budgets(key):
            if budget.remaining == 0:
                return budget
        return None

    async def _budgets(
        self, limiter: MovingWindowRateLimiter, key: str, *, shared: bool
    ) -> list[Budget]:
        out = []
        for window in self.windows:
            stats = await limiter.get_window_stats(window.item, key)
            limit = window.item.amount
            remaining = min(limit, max(0, stats.remaining))
            used = limit - remaining
            out.append(
                Budget(
                    window=window.label,
                    limit=limit,
                    used=used,
                    remaining=remaining,
                    reset_at=datetime.fromtimestamp(stats.reset_time, UTC) if used else None,
                    shared=shared,
                )
            )
        return out

    async def _hit(self, limiter: MovingWindowRateLimiter, key: str) -> None:
        for window in self.windows:
            if await limiter.hit(window.item, key):
                continue
            stats = await limiter.get_window_stats(window.item, key)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            RATE_LIMIT_REFUSALS.labels(window.label).inc()
            raise RateLimited(
                f"Rate limit of {window.item.amount} requests per {window.label} exceeded; "
                f"retry in {retry_after} s.",
                headers={"Retry-After": str(retry_after)},
            )

    def _storage_failed(self, exc: Exception) -> None:
        cause = exc.storage_error if isinstance(exc, StorageError) else exc
        if not self._shared_down_until:
            log.warning(
                "ratelimit.storage_unavailable",
                error=type(cause).__name__,
                budget_ms=round(self.budget_seconds * 1000),
                fallback="per-process counts",
                retry_in_s=STORAGE_RETRY_SECONDS,
            )
        self._shared_down_until = time.monotonic() + STORAGE_RETRY_SECONDS
        if self._pool is not None:
            # Connections a cancelled hit left mid-reply must not serve the next command.
            self._pool.disconnect()

    async def aclose(self) -> None:
        """Close Redis connections and stop the in-memory expiry task (lifespan shutdown)."""
        if self._pool is not None:
            self._pool.disconnect()
        timer = self._memory.timer
        if timer is not None and not timer.done():
            timer.cancel()
