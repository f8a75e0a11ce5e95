"""Wire shapes of job progression."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thanx_server.sandbox.clock.schemas import Duration

Mode = Literal["immediate", "paused", "step", "after_polls", "delay"]


class ProgressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(
        description="`immediate` (a worker runs it), `paused` (stays `pending` until stepped), "
        "`step` (one chunk per step call), `after_polls` (runs after `polls` GETs of the job), "
        "`delay` (runs `delay` later on the sandbox clock)."
    )
    polls: int | None = Field(None, ge=1, le=1000, description="`after_polls`: how many.")
    delay: Duration | None = Field(None, description="`delay`: how long (`90m`, `PT1H`, 3600).")
    client_id: str | None = Field(
        None, max_length=64, description="Whose jobs (an operator's call: required)."
    )

    @model_validator(mode="after")
    def _complete(self) -> ProgressionIn:
        if self.mode == "after_polls" and self.polls is None:
            raise ValueError("polls: required for after_polls")
        if self.mode == "delay" and (self.delay is None or self.delay.total_seconds() <= 0):
            raise ValueError("delay: a positive duration is required for delay")
        return self


class ProgressionOut(BaseModel):
    client_id: str
    mode: Mode
    polls: int | None
    delay_seconds: int | None


class ProgressionEnvelope(BaseModel):
    progression: ProgressionOut


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunks: int = Field(1, ge=1, le=10_000, description="How many chunks to run now.")
