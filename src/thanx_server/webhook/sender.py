"""One HTTP attempt, bounded: a slow or hostile receiver costs one slot for at most the timeout.

* the whole attempt (connect, send, headers, the excerpt of the body) is bounded by one total
  timeout (15 s, Thanx's), not httpx's per-read timeouts, so a receiver dripping bytes cannot
  stretch it;
* at most ``EXCERPT_BYTES`` of the response are read, then the connection is closed: a huge
  response costs nothing more;
* redirects are not followed (a 3xx is a failed attempt): no redirect loops, and no hop to an
  address the URL rules would refuse.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

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


def new_client(max_connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64),
        timeout=httpx.Timeout(DEFAULT_TIMEOUT),
        headers={"User-Agent": USER_AGENT},
    )


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
    client: httpx.AsyncClient,
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
            async with client.stream(
                "POST",
                url,
                content=body,
                headers={"Content-Type": "application/json", **headers},
            ) as response:
                status = response.status_code
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= EXCERPT_BYTES:
                        break
                excerpt = b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", "replace")
    except TimeoutError:
        error = f"timeout after {limit:g} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    duration = int((time.perf_counter() - started) * 1000)
    if status is not None and error is not None:
        # The status line arrived but the body timed out: the answer counts, the excerpt is cut.
        error = None
    return AttemptResult(
        status_code=status,
        duration_ms=duration,
        excerpt=excerpt,
        error=error,
        retry_after=retry_after,
    )
