"""``/sandbox/clock``: read it (any controller); freeze, set, advance, resume (an operator)."""

from __future__ import annotations

from thanx_server.auth.dependencies import Controller
from thanx_server.kit.deps import AppDatabase, AppSettings, DbSession
from thanx_server.sandbox.clock import service
from thanx_server.sandbox.clock.schemas import (
    AdvanceIn,
    ClockEnvelope,
    ClockOut,
    ResumeIn,
    SetIn,
)
from thanx_server.sandbox.routing import control_router

router = control_router()


@router.get("/sandbox/clock", response_model=ClockEnvelope, operation_id="sandboxClockRead")
async def read_clock(principal: Controller, session: DbSession) -> ClockEnvelope:
    """The instance's clock: its time, frozen or running, and its distance from real time."""
    return ClockEnvelope(clock=ClockOut.of(await service.read(session)))


@router.post(
    "/sandbox/clock/freeze", response_model=ClockEnvelope, operation_id="sandboxClockFreeze"
)
async def freeze_clock(principal: Controller, session: DbSession) -> ClockEnvelope:
    """Stop the clock where it stands (an operator's)."""
    principal.require_operator("moving the clock")
    return ClockEnvelope(clock=ClockOut.of(await service.freeze(session)))


@router.post(
    "/sandbox/clock/resume", response_model=ClockEnvelope, operation_id="sandboxClockResume"
)
async def resume_clock(
    principal: Controller, session: DbSession, body: ResumeIn | None = None
) -> ClockEnvelope:
    """Let the clock run again from where it stands, or go back to real time (`real`)."""
    principal.require_operator("moving the clock")
    body = body or ResumeIn()
    view = await service.resume(session, real=body.real, allow_backwards=body.allow_backwards)
    return ClockEnvelope(clock=ClockOut.of(view))


@router.post("/sandbox/clock/set", response_model=ClockEnvelope, operation_id="sandboxClockSet")
async def set_clock(
    principal: Controller, body: SetIn, db: AppDatabase, settings: AppSettings
) -> ClockEnvelope:
    """Move the clock to an instant. Forward, what falls due on the way runs first, in time
    order; backwards only with `allow_backwards` (the answer says what it cannot undo)."""
    principal.require_operator("moving the clock")
    view = await service.set_to(db, settings, to=body.to, allow_backwards=body.allow_backwards)
    return ClockEnvelope(clock=ClockOut.of(view))


@router.post(
    "/sandbox/clock/advance", response_model=ClockEnvelope, operation_id="sandboxClockAdvance"
)
async def advance_clock(
    principal: Controller, body: AdvanceIn, db: AppDatabase, settings: AppSettings
) -> ClockEnvelope:
    """Move the clock forward; answers once everything that fell due has run, in time order."""
    principal.require_operator("moving the clock")
    return ClockEnvelope(clock=ClockOut.of(await service.advance(db, settings, by=body.by)))
