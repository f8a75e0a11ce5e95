"""Business time: the one "now" every business rule reads (issue 13, the sandbox clock).

Two clocks exist. ``kit.time.utcnow()`` is infrastructure time: leases, rate-limit windows,
timeouts, idempotency retention, credential bookkeeping. It is always the machine's clock.
``business_now()`` is the time the rules see: reward availability and ``retire_at``, redeem
windows, campaign states, token expiry, the feedback window, scheduled work, record timestamps.
Outside a sandbox (or before anything set a clock) it is the machine's clock too; in a sandbox it
follows the instance's clock, whose state lives in the database (``sandbox/clock``) and is put in
place per request by ``sandbox/middleware.py`` and per claim by the workers (``using``).

The state is held in a context variable as a mutable ``ClockHolder``, so a control that moves the
clock inside a request (``/sandbox/clock/...``) updates what the rest of the request, and the
response header, see.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.time import utcnow

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CLOCK_HEADER = b"x-sandbox-time"


@dataclass(frozen=True, slots=True)
class ClockState:
    """A clock: frozen at an instant, or running at the machine's pace shifted by ``offset``."""

    frozen_at: datetime | None = None
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        if self.frozen_at is not None:
            return self.frozen_at
        return utcnow() + self.offset if self.offset else utcnow()

    @classmethod
    def stored(cls, frozen_at: datetime | None, offset_us: int) -> ClockState:
        """The state as the clock's row stores it (``models/sandbox.py``)."""
        return cls(frozen_at=frozen_at, offset=timedelta(microseconds=offset_us))

    @property
    def is_real(self) -> bool:
        return self.frozen_at is None and not self.offset


REAL = ClockState()


class ClockHolder:
    """The clock of one request or one unit of work (mutable: see the module docstring)."""

    __slots__ = ("state",)

    def __init__(self, state: ClockState) -> None:
        self.state = state


_current: ContextVar[ClockHolder | None] = ContextVar("thanx_clock", default=None)


def business_now() -> datetime:
    """The time the business rules see (module docstring)."""
    holder = _current.get()
    if holder is None:
        return utcnow()
    return holder.state.now()


def current_state() -> ClockState:
    holder = _current.get()
    return REAL if holder is None else holder.state


def replace_state(state: ClockState) -> None:
    """A control moved the clock: the rest of this request (or unit of work) follows it."""
    holder = _current.get()
    if holder is None:
        _current.set(ClockHolder(state))
    else:
        holder.state = state


def bind(holder: ClockHolder) -> Token[ClockHolder | None]:
    """Make ``holder`` the clock of this context (``unbind`` with the token when done)."""
    return _current.set(holder)


def unbind(token: Token[ClockHolder | None]) -> None:
    _current.reset(token)


@contextlib.contextmanager
def using(state: ClockState) -> Iterator[ClockHolder]:
    """Run a unit of work (a worker's claim, a CLI command) on ``state``."""
    holder = ClockHolder(state)
    token = _current.set(holder)
    try:
        yield holder
    finally:
        _current.reset(token)


ClockLoader = Callable[[AsyncSession], Awaitable[ClockState]]
