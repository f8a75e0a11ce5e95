"""The clock controls' wire shapes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from thanx_server.kit.wire import InstantIn, WireDateTime
from thanx_server.sandbox.clock.service import ClockView

MAX_ADVANCE = timedelta(days=3660)
_SHORT = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: Any) -> Any:
    """``"1d12h"``, ``"90m"``, ``"2w"`` as well as what pydantic reads itself (seconds as a
    number, ISO 8601 ``"PT1H"``)."""
    if isinstance(value, str):
        match = _SHORT.match(value.strip())
        if match and any(match.groups()):
            w, d, h, m, s = (int(g or 0) for g in match.groups())
            return timedelta(weeks=w, days=d, hours=h, minutes=m, seconds=s)
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Duration = Field(
        description="How far: seconds (`3600`), ISO 8601 (`PT1H`, `P1D`) or short form "
        "(`90m`, `1d12h`, `2w`). Positive, at most ten years.",
        examples=["1d"],
    )

    @field_validator("by")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive (move back with /sandbox/clock/set)")
        if value > MAX_ADVANCE:
            raise ValueError("must be at most ten years")
        return value


class SetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: InstantIn = Field(description="The instant (ISO 8601; without an offset: UTC).")
    allow_backwards: bool = Field(False, description="Needed when `to` is before the clock's time.")


class ResumeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    real: bool = Field(
        False,
        description="Back to the machine's time instead of running on from the sandbox's.",
    )
    allow_backwards: bool = Field(
        False, description="Needed with `real` when the clock is ahead of the machine's time."
    )


class ClockOut(BaseModel):
    now: WireDateTime = Field(description="The sandbox's time (also in every X-Sandbox-Time).")
    frozen: bool
    offset_seconds: float = Field(description="The sandbox's time minus the machine's.")
    ran: int = Field(0, description="Pieces of due work this move ran (set and advance).")
    warnings: list[str] = Field(
        default_factory=list, description="What moving the clock back could not undo."
    )

    @classmethod
    def of(cls, view: ClockView) -> ClockOut:
        return cls(
            now=view.now,
            frozen=view.frozen,
            offset_seconds=round(view.offset.total_seconds(), 3),
            ran=view.ran,
            warnings=list(view.warnings),
        )


class ClockEnvelope(BaseModel):
    clock: ClockOut
