"""Wire shapes of issuance (reference B.9.4, B.10; CONTRACT row 2: docs fields + seed fields)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints
from typing_extensions import TypedDict

from thanx_server.domain.states import JobState
from thanx_server.kit.wire import WireDateTime

MAX_IDENTIFIERS = 10_000


class IdentifierIn(TypedDict):
    """A plain dict once validated (a model instance per identifier cost a 10,000-identifier
    POST ~5 ms more, and the job stores dicts anyway); unknown keys are dropped."""

    type: Literal["email", "phone"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=320)]


class IssueRewardsIn(BaseModel):
    campaign_id: str
    merchant_id: str
    variant_id: str
    identifiers: list[IdentifierIn] = Field(min_length=1, max_length=MAX_IDENTIFIERS)


class RevokeIn(BaseModel):
    merchant_id: str | None = None


class FailureOut(BaseModel):
    identifier_index: int
    identifier_type: str
    error: str


class SummaryOut(BaseModel):
    success_count: int
    failure_count: int


class SummaryWithFailures(SummaryOut):
    """The summary of a job where any identifier failed: ``failures`` is present only then."""

    failures: list[FailureOut]


class IssuanceJobOut(BaseModel):
    id: str
    merchant_id: str
    campaign_id: str
    variant_id: str
    state: JobState = Field(
        description="`pending` → `processing` → `completed` or `failed`; either → `revoked`."
    )
    total_count: int
    processed_count: int
    success_count: int
    failure_count: int
    progress_percent: int
    requested_count: int = Field(description="Seed spelling of total_count.")
    issued_count: int = Field(description="Seed spelling of success_count.")
    failed_count: int = Field(description="Seed spelling of failure_count.")
    error: str | None = Field(description="Why a `failed` job failed; null otherwise.")
    created_at: WireDateTime
    updated_at: WireDateTime
    started_at: WireDateTime | None
    completed_at: WireDateTime | None
    revoked_at: WireDateTime | None
    summary: SummaryWithFailures | SummaryOut | None = Field(
        description="Present once the job has finished; `failures` only when any failed."
    )


class IssuanceJobEnvelope(BaseModel):
    issuance_job: IssuanceJobOut
