"""A small bounded time-to-live cache, per process."""

from __future__ import annotations

import time
import weakref
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values remembered for ``ttl`` seconds; ``ttl`` 0 turns the cache off.

    Bounded by ``max_entries``: when full it is emptied (crude, but the working sets here, partner
    credentials and active end-user tokens, are small, and a miss only costs one query).
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        _every.add(self)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        """Remember ``value`` for ``ttl`` seconds (default: the cache's own)."""
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + (self.ttl if ttl is None else ttl), value)

    def clear(self) -> None:
        self._entries.clear()


# Every cache of this process, for ``clear_every_cache``.
_every: weakref.WeakSet[TtlCache[Any, Any]] = weakref.WeakSet()


def clear_every_cache() -> None:
    """Forget what every cache of this process remembers: after a change that makes all of it
    untrue at once (a sandbox reset or snapshot restore replaces credentials, members and rows
    wholesale). Other processes still forget within their caches' time to live."""
    for cache in tuple(_every):
        cache.clear()
