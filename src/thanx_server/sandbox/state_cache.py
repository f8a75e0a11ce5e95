"""The sandbox state every request reads: the clock and whether any fault rule exists.

``SandboxMiddleware`` needs both on every request. They change only through controls (the
clock's moves, fault rules added or removed, a reset or snapshot restore), so each process keeps
what one statement answered for ``kit/settle.window()`` (``THANX_SANDBOX_STATE_CACHE_MS``, 50 ms
by default; 0: no copy) from the moment it asked, and every
control that changes them calls ``changed(session)`` in its transaction: the process that made
the change forgets its copy at once, and the control's answer is held until every other
process's copy has expired (``kit/settle``). A busy process reads the row once per window
instead of once per request (one round trip fewer per request on PostgreSQL, one trip to the
driver's thread on SQLite: issue 17).
"""

from __future__ import annotations

import time
import weakref
from typing import cast

from sqlalchemy import Table, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit import settle
from thanx_server.kit.clock import REAL, ClockState
from thanx_server.models.sandbox import CLOCK_ROW_ID, SandboxClock, SandboxFaultRule

# A Core statement over the tables (not the mapped classes): the session hands it to the
# connection without the ORM's per-execution work (docs/PERFORMANCE.md, issue 17).
_CLOCKS = cast(Table, SandboxClock.__table__)
_RULES = cast(Table, SandboxFaultRule.__table__)
_clock_row = _CLOCKS.c.id == CLOCK_ROW_ID
_STATE = select(
    select(_CLOCKS.c.frozen_at).where(_clock_row).scalar_subquery(),
    select(_CLOCKS.c.offset_us).where(_clock_row).scalar_subquery(),
    exists().where(_RULES.c.id.is_not(None)),
)

SandboxState = tuple[ClockState, bool]


class SandboxStateCache:
    """One process's copy of the sandbox state (one per app)."""

    __slots__ = ("__weakref__", "_state", "_until")

    def __init__(self) -> None:
        self._state: SandboxState | None = None
        self._until = 0.0
        _caches.add(self)

    def fresh(self) -> SandboxState | None:
        """This process's copy while it is fresh, else None (``read`` then)."""
        if self._state is not None and time.monotonic() < self._until:
            return self._state
        return None

    async def read(self, session: AsyncSession) -> SandboxState:
        """The clock and whether any fault rule exists, by one statement on ``session``; kept
        as this process's copy for the window."""
        asked = time.monotonic()
        frozen_at, offset_us, any_rules = (await session.execute(_STATE)).one()
        unset = frozen_at is None and offset_us is None
        clock = REAL if unset else ClockState.stored(frozen_at, offset_us)
        state = (clock, bool(any_rules))
        # Counted from before the statement: a copy never outlives a change committed after it
        # was asked for by more than the window that change's answer waits out.
        self._state, self._until = state, asked + settle.window()
        return state

    def forget(self) -> None:
        self._state = None


_caches: weakref.WeakSet[SandboxStateCache] = weakref.WeakSet()


def _forget_all() -> None:
    for cache in tuple(_caches):
        cache.forget()


def changed(session: AsyncSession) -> None:
    """The clock or the fault rules change in ``session``'s transaction (module docstring)."""
    settle.hold_after_commit(session, _forget_all)
