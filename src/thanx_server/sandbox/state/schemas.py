"""Wire shapes of reset, snapshots and the baseline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from thanx_server.sandbox.state.service import Restored


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Reset one merchant; omitted: everything (an operator) or every merchant "
        "of the partner credential.",
    )
    credentials: bool = Field(
        False,
        description="Put partners, their credentials and operators back to the baseline too "
        "(everything only; an operator). By default credentials are kept.",
    )


class RestoredOut(BaseModel):
    merchant_ids: list[str] | None = Field(description="null: everything.")
    credentials: bool = Field(description="Whether credentials were put back too.")
    rows: int = Field(description="Rows written.")
    duration_ms: float
    baseline_version: int = Field(0, description="The baseline a reset went back to (0: none).")

    @classmethod
    def of(cls, restored: Restored) -> RestoredOut:
        return cls(
            merchant_ids=None if restored.merchant_ids is None else list(restored.merchant_ids),
            credentials=restored.credentials,
            rows=restored.rows,
            duration_ms=restored.duration_ms,
            baseline_version=restored.baseline_version,
        )


class ResetOut(BaseModel):
    reset: RestoredOut


class RestoreOut(BaseModel):
    restored: RestoredOut


class BaselineOut(BaseModel):
    baseline_version: int
