"""Wire shapes of the promotion endpoints (reference B.11: [M] only; names chosen, see
docs/DECISIONS.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, StrictStr

from thanx_server.domain.states import CampaignState
from thanx_server.kit.pagination import Pagination
from thanx_server.kit.wire import InstantIn, WireDateTime

MAX_CODES_PER_CALL = 100_000
MAX_CODES_AT_CREATION = 4_000_000


class PromotionFields(BaseModel):
    name: StrictStr = Field(min_length=1, max_length=200)
    description: StrictStr | None = Field(default=None, max_length=2000)
    reward_template_id: StrictStr | None = Field(
        default=None, max_length=64, description="Optional: a published template it gives."
    )
    start_at: InstantIn | None = Field(default=None, description="Default: now.")
    end_at: InstantIn | None = Field(default=None, description="Default: open-ended.")
    code_count: Annotated[StrictInt, Field(ge=0)] = Field(
        default=0,
        description=f"Single-use codes generated at creation (0 to {MAX_CODES_AT_CREATION:,}; "
        "more: 422 CODE_LIMIT_EXCEEDED). Up to 100,000 are in the pool when the answer comes; "
        "beyond that workers generate them (see `pending_code_count`).",
    )


class PromotionIn(BaseModel):
    merchant_id: StrictStr
    promotion: PromotionFields


class PromotionOut(BaseModel):
    id: str
    merchant_id: str
    name: str
    description: str | None
    reward_template_id: str | None
    state: CampaignState = Field(description="Derived from now, start_at and end_at.")
    start_at: WireDateTime | None
    end_at: WireDateTime | None
    code_count: int = Field(description="Codes in the promotion's pool.")
    pending_code_count: int = Field(
        description="Codes of a large creation count that workers are still generating."
    )
    created_at: WireDateTime
    updated_at: WireDateTime


class PromotionEnvelope(BaseModel):
    promotion: PromotionOut


class PromotionList(BaseModel):
    promotions: list[PromotionOut]
    pagination: Pagination


class GenerateCodesIn(BaseModel):
    merchant_id: StrictStr | None = Field(default=None, description="Optional; the promotion's.")
    count: Annotated[StrictInt, Field(ge=1)] = Field(
        description=f"1 to {MAX_CODES_PER_CALL:,} (more: 422 CODE_LIMIT_EXCEEDED)."
    )


class CodeBatchOut(BaseModel):
    id: str
    promotion_id: str
    count: int
    created_at: WireDateTime


class CodeBatchEnvelope(BaseModel):
    promotion_code_batch: CodeBatchOut
    promotion: PromotionOut


class PromotionCodeOut(BaseModel):
    code: str
    promotion_id: str
    batch_id: str
    state: str = Field(description="`available` (single use; redemption is not served yet).")
    created_at: WireDateTime
    redeemed_at: WireDateTime | None


class PromotionCodeList(BaseModel):
    promotion_codes: list[PromotionCodeOut]
    pagination: Pagination
