"""The clock controls: read, freeze, set, advance, resume (HTTP and CLI call these).

Freezing and resuming change one row in the caller's transaction. Setting and advancing move
the clock forward through what falls due: the clock stops at each piece of due work's instant
(earliest first), that work runs in transactions of its own (as a worker's would), and only
then does the clock move on; the control answers once everything due by the target has run.
Two controls moving the clock at once: the second loses (``ClockBusy``, 409), never both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.clock import REAL, ClockState, replace_state, using
from thanx_server.kit.db import Database
from thanx_server.kit.time import isoformat_z, utcnow
from thanx_server.sandbox.clock import due, repository
from thanx_server.sandbox.clock.errors import ClockBackwards, ClockBusy
from thanx_server.settings import Settings

log = structlog.get_logger("thanx.sandbox.clock")

# A bound on the pieces of due work one move runs (each run drains everything due at its
# instant, so this is only reached by work that keeps scheduling more).
MAX_STEPS = 10_000
BACKWARDS_WARNING = (
    "moving the clock back undoes nothing: records written after {to} keep their timestamps; "
    "issued rewards, finished jobs, answered feedback and minted tokens stay as they are; work "
    "that already ran does not run again"
)


@dataclass(frozen=True, slots=True)
class ClockView:
    now: datetime
    frozen: bool
    offset: timedelta  # the sandbox's time minus the machine's, when read
    ran: int = 0
    warnings: tuple[str, ...] = ()


def _view(state: ClockState, *, ran: int = 0, warnings: tuple[str, ...] = ()) -> ClockView:
    real = utcnow()
    now = state.frozen_at if state.frozen_at is not None else real + state.offset
    return ClockView(
        now=now,
        frozen=state.frozen_at is not None,
        offset=now - real,
        ran=ran,
        warnings=warnings,
    )


async def read(session: AsyncSession) -> ClockView:
    return _view(await repository.load_state(session))


async def _store(session: AsyncSession, state: ClockState, version: int) -> None:
    if not await repository.write(session, state, version=version):
        raise ClockBusy()
    replace_state(state)


async def freeze(session: AsyncSession) -> ClockView:
    """Stop the clock where it is (already frozen: nothing changes)."""
    state, version = await repository.read(session)
    if state.frozen_at is None:
        state = ClockState(frozen_at=state.now())
        await _store(session, state, version)
        log.info("sandbox.clock_frozen", at=isoformat_z(state.now()))
    return _view(state)


async def resume(session: AsyncSession, *, real: bool, allow_backwards: bool) -> ClockView:
    """Let a frozen clock run again from where it stands; ``real``: back to the machine's time
    (backwards when the clock is ahead, so only with ``allow_backwards``)."""
    state, version = await repository.read(session)
    warnings: tuple[str, ...] = ()
    if real:
        target = utcnow()
        warnings = _check_backwards(state.now(), target, allow_backwards, field="real")
        new = REAL
    else:
        new = ClockState(offset=state.now() - utcnow())
    await _store(session, new, version)
    log.info("sandbox.clock_resumed", real=real)
    return _view(new, warnings=warnings)


def _check_backwards(
    start: datetime, target: datetime, allow_backwards: bool, *, field: str
) -> tuple[str, ...]:
    # A millisecond of slack: "back to real time" right after the clock was moved to it.
    if target >= start - timedelta(milliseconds=1):
        return ()
    if not allow_backwards:
        raise ClockBackwards(
            f"{field}: {isoformat_z(target)} is before the clock's {isoformat_z(start)}; "
            "pass allow_backwards: true to move it back"
        )
    return (BACKWARDS_WARNING.format(to=isoformat_z(target)),)


async def set_to(
    db: Database, settings: Settings, *, to: datetime, allow_backwards: bool
) -> ClockView:
    """Move the clock to ``to`` (forward: running what falls due on the way)."""
    return await _move(db, settings, to=to, by=None, allow_backwards=allow_backwards)


async def advance(db: Database, settings: Settings, *, by: timedelta) -> ClockView:
    """Move the clock forward by ``by``, running what falls due on the way, in time order."""
    return await _move(db, settings, to=None, by=by, allow_backwards=False)


async def _write(db: Database, state: ClockState, version: int) -> int:
    async with db.write_sessions() as session, session.begin():
        if not await repository.write(session, state, version=version):
            raise ClockBusy()
    return version + 1


async def _move(
    db: Database,
    settings: Settings,
    *,
    to: datetime | None,
    by: timedelta | None,
    allow_backwards: bool,
) -> ClockView:
    async with db.read_sessions() as session:
        state, version = await repository.read(session)
    start = state.now()
    target = to if to is not None else start + (by or timedelta(0))
    warnings = _check_backwards(start, target, allow_backwards, field="to")
    ran = 0
    current = start
    for _ in range(MAX_STEPS):
        # What is due is judged on the clock as it stands in the move (a delayed job's turn).
        with using(ClockState(frozen_at=current)):
            async with db.read_sessions() as session:
                found = await due.earliest(session, now=current, until=target)
        if found is None:
            break
        at, work = found
        current = max(at, current)
        step = ClockState(frozen_at=current)
        version = await _write(db, step, version)
        with using(step):
            count = await work.run(db, settings)
        log.info("sandbox.clock_due_run", work=work.name, at=isoformat_z(current), count=count)
        if count == 0:
            break
        ran += count
    final = (
        ClockState(frozen_at=target)
        if state.frozen_at is not None
        else ClockState(offset=state.offset + (target - start))
    )
    version = await _write(db, final, version)
    replace_state(final)
    log.info("sandbox.clock_moved", to=isoformat_z(target), ran=ran, backwards=bool(warnings))
    return _view(final, ran=ran, warnings=warnings)
