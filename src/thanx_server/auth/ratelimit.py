"""The rate-limit policy of the Partner API (CONTRACT row 17): two windows per partner credential.

Both windows are enforced on every authenticated partner call, keyed by the credential's client
id: ``THANX_RATE_LIMIT_PER_SECOND`` requests in any 1 second and
``THANX_RATE_LIMIT_PER_15_MINUTES`` in any 15 minutes (the documented 5 and 2,000 by default).
The per-second window is checked first, so a call it refuses does not spend the quarter-hour
budget. The machinery (storage, Redis fallback) is ``kit/ratelimit.py``.
"""

from __future__ import annotations

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond

from thanx_server.kit.ratelimit import RateLimiter, Window
from thanx_server.settings import Settings


def credential_limiter(settings: Settings) -> RateLimiter | None:
    """The process's limiter of partner calls, or None when rate limiting is off."""
    if not settings.rate_limit_enabled:
        return None
    return RateLimiter(
        (
            Window(RateLimitItemPerSecond(settings.rate_limit_per_second, 1), "second"),
            Window(RateLimitItemPerMinute(settings.rate_limit_per_15_minutes, 15), "15 minutes"),
        ),
        storage_url=settings.rate_limit_storage,
        key_prefix=settings.rate_limit_key_prefix,
        budget_seconds=settings.rate_limit_redis_budget_ms / 1000,
    )
