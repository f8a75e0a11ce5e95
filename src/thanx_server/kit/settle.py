"""Answers held until every process's short-lived copy of a changed fact has expired (issue 17).

Some facts are read by every request but change only through a rare control: the sandbox's
clock and whether any fault rule exists (``sandbox/state_cache.py``). Each process may keep its
copy of such a fact for ``window()`` seconds (``THANX_SANDBOX_STATE_CACHE_MS``, given to
``configure``), counted from the moment it *asked* the database. A change of such a fact calls
``hold_after_commit(session, forget)``: once the change commits, this process forgets its own
copies (``forget``) and every answer it sends from then on waits until a window after the
commit (``settled()``, awaited by the request's transaction middleware after its commit, and at
exit by a CLI command). By then every copy taken before the commit, in any process on any
machine, has expired: only durations on each machine's own monotonic clock are compared, never
instants across machines. A client that has heard the control's answer is therefore served the
new fact everywhere, while a busy process asks once per window instead of once per request.
"""

from __future__ import annotations

import asyncio
import atexit
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.db import on_commit

# How long a process may keep a copy (and how long a change holds its answer back).
_window = 0.05
_hold_until = 0.0
_at_exit = False


def configure(seconds: float) -> None:
    """This process's window (the app and every CLI command set it from their settings)."""
    global _window
    _window = seconds


def window() -> float:
    return _window


def hold_after_commit(session: AsyncSession, forget: Callable[[], None]) -> None:
    """Once ``session``'s transaction commits: ``forget`` this process's copies and hold this
    process's answers for the window. Call it in the transaction that makes the change."""

    def committed() -> None:
        global _hold_until, _at_exit
        forget()
        _hold_until = max(_hold_until, time.monotonic() + _window)
        if not _at_exit:
            # A CLI command's change: the process waits out the window before it exits.
            atexit.register(_wait_at_exit)
            _at_exit = True

    on_commit(session, committed)


async def settled() -> None:
    """Wait until answers may go out (at once unless a change committed within the window)."""
    delay = _hold_until - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _wait_at_exit() -> None:
    delay = _hold_until - time.monotonic()
    if delay > 0:
        time.sleep(delay)
