"""Wire shapes of fault rules."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from thanx_server.kit.wire import WireDateTime
from thanx_server.models.sandbox import SandboxFaultRule


class FaultIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation_id: str = Field(
        min_length=1, max_length=100, description="The operation (as in /openapi.json)."
    )
    merchant_id: str | None = Field(
        None, max_length=64, description="Only calls naming this merchant (query or body)."
    )
    action: Literal["error", "latency", "drop"] = "error"
    status: int = Field(500, ge=400, le=599, description="`error`: the HTTP status.")
    code: str | None = Field(
        None,
        max_length=100,
        description="`error`: the Thanx error code (default: the status's usual one).",
    )
    message: str | None = Field(None, max_length=500)
    retry_after: int | None = Field(
        None, ge=0, le=86400, description="`error`: a Retry-After in seconds (429: default 1)."
    )
    latency_ms: int | None = Field(
        None, ge=1, le=30000, description="`latency`: how long to wait before answering."
    )
    times: int | None = Field(None, ge=1, le=1_000_000, description="Only the first N calls.")
    fraction: float | None = Field(
        None, gt=0, le=1, description="A seeded fraction of the calls (with `seed`)."
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    expires_in: int | None = Field(None, ge=1, le=30 * 86400, description="Seconds.")

    @model_validator(mode="after")
    def _consistent(self) -> FaultIn:
        if self.times is not None and self.fraction is not None:
            raise ValueError("times: give times or fraction, not both")
        if self.action == "latency" and self.latency_ms is None:
            raise ValueError("latency_ms: required for a latency rule")
        return self


class FaultOut(BaseModel):
    id: str
    operation_id: str
    merchant_id: str | None
    owner_client_id: str | None = Field(description="null: an operator's rule (everyone's).")
    action: str
    status: int | None
    code: str | None
    message: str | None
    retry_after: int | None
    latency_ms: int | None
    times: int | None
    fraction: float | None
    seed: int
    seen: int = Field(description="Calls the rule was asked about.")
    hits: int = Field(description="Calls it fired on.")
    expires_at: WireDateTime | None
    created_at: WireDateTime

    @classmethod
    def of(cls, rule: SandboxFaultRule) -> FaultOut:
        return cls(
            id=rule.id,
            operation_id=rule.operation_id,
            merchant_id=rule.merchant_id,
            owner_client_id=rule.owner_client_id,
            action=rule.action,
            status=rule.status,
            code=rule.code,
            message=rule.message,
            retry_after=rule.retry_after,
            latency_ms=rule.latency_ms,
            times=rule.times,
            fraction=rule.fraction,
            seed=rule.seed,
            seen=rule.seen,
            hits=rule.hits,
            expires_at=rule.expires_at,
            created_at=rule.created_at,
        )


class FaultEnvelope(BaseModel):
    fault: FaultOut


class FaultList(BaseModel):
    faults: list[FaultOut]


class Cleared(BaseModel):
    removed: int
