"""A small bounded time-to-live cache, per process."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

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
