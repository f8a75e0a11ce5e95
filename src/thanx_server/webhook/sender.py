"""One HTTP attempt, bounded: a slow or hostile receiver costs one slot for at most the timeout.

* the whole attempt (connect, send, the answer's head, the excerpt of its body) is bounded by one
  total timeout (15 s, Thanx's), so a receiver dripping bytes cannot stretch it;
* at most ``EXCERPT_BYTES`` of the answer are read (``http1.py``): a huge answer costs nothing
  more, its connection is closed;
* redirects are not followed (a 3xx is a failed attempt): no redirect loops, and no hop to an
  address the URL rules would refuse.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from thanx_server.webhook import http1

EXCERPT_BYTES = 1024
DEFAULT_TIMEOUT = 15.0
USER_AGENT = "thanx-server-webhooks/1"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    duration_ms: int
    excerpt: str | None
    error: str | None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def new_client(
    max_connections: int = 64, *, guard: Callable[[str, int], Awaitable[list[str]]] | None = None
) -> http1.Pool:
    """The sender's connection pool; ``guard`` (production: ``safety.ConnectGuard``) decides
    where each new connection may go."""
    del max_connections  # connections are bounded by the worker's slots
    return http1.Pool(user_agent=USER_AGENT, addresses=guard)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (only the delta-seconds form; an HTTP date is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


async def post(
    client: http1.Pool,
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    limit: float = DEFAULT_TIMEOUT,
) -> AttemptResult:
    started = time.perf_counter()
    status: int | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(limit):
            response = await client.post(
                url,
                body=body,
                headers={"Content-Type": "application/json", **headers},
                limit=EXCERPT_BYTES,
            )
        status = response.status
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        excerpt = response.excerpt.decode("utf-8", "replace")
    except TimeoutError:
        error = f"timeout after {limit:g} s"
    except http1.HttpError as exc:
        error = str(exc)[:300]
    duration = int((time.perf_counter() - started) * 1000)
    return AttemptResult(
        status_code=status,
        duration_ms=duration,
        excerpt=excerpt,
        error=error,
        retry_after=retry_after,
    )
