"""The clock's one row (``models/sandbox.py``)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.clock import REAL, ClockState
from thanx_server.kit.time import utcnow
from thanx_server.kit.upsert import upsert_insert
from thanx_server.models.sandbox import CLOCK_ROW_ID, SandboxClock
from thanx_server.sandbox import state_cache

_READ = select(SandboxClock.frozen_at, SandboxClock.offset_us, SandboxClock.version).where(
    SandboxClock.id == CLOCK_ROW_ID
)


async def load_state(session: AsyncSession) -> ClockState:
    """The instance's clock (the machine's while no control ever moved it)."""
    row = (await session.execute(_READ)).first()
    return REAL if row is None else ClockState.stored(row.frozen_at, row.offset_us)


async def read(session: AsyncSession) -> tuple[ClockState, int]:
    """The clock and its version (0: no row yet)."""
    row = (await session.execute(_READ)).first()
    if row is None:
        return REAL, 0
    return ClockState.stored(row.frozen_at, row.offset_us), row.version


def _offset_us(state: ClockState) -> int:
    return (
        state.offset.days * 86_400_000_000
        + state.offset.seconds * 1_000_000
        + state.offset.microseconds
    )


async def write(session: AsyncSession, state: ClockState, *, version: int) -> bool:
    """Move the clock if nobody moved it since ``version`` was read (False: somebody did)."""
    values = {
        "frozen_at": state.frozen_at,
        "offset_us": _offset_us(state),
        "version": version + 1,
        "updated_at": utcnow(),
    }
    if version == 0:
        statement = (
            upsert_insert(session, SandboxClock)
            .values(id=CLOCK_ROW_ID, **values)
            .on_conflict_do_nothing(index_elements=[SandboxClock.id])
        )
    else:
        statement = (
            update(SandboxClock)  # type: ignore[assignment]
            .where(SandboxClock.id == CLOCK_ROW_ID, SandboxClock.version == version)
            .values(**values)
        )
    result = await session.execute(statement)
    moved = bool(getattr(result, "rowcount", 0))
    if moved:
        state_cache.changed(session)
    return moved
