"""Wire shapes of campaigns (reference B.9; the seed's ``Campaign`` + merchant and state)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from thanx_server.domain.states import CampaignState
from thanx_server.kit.pagination import Pagination
from thanx_server.kit.wire import WireDateTime, WireDateTimeIn, omit_none


class VariantIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    reward_template_id: str | None = Field(
        default=None, description="Required for treatment variants; omitted for `Control`."
    )


class CampaignIn(BaseModel):
    merchant_id: str
    name: str = Field(min_length=1, max_length=200)
    objective: str | None = None
    fine_print: str | None = None
    start_at: WireDateTimeIn = Field(
        description="ISO 8601; without an offset, the merchant's zone."
    )
    end_at: WireDateTimeIn
    redeemable_from: WireDateTimeIn
    redeemable_to: WireDateTimeIn
    variants: list[VariantIn] = Field(min_length=1, max_length=4)


class CampaignCreate(BaseModel):
    campaign: CampaignIn


class VariantOut(BaseModel):
    id: str
    name: str
    reward_template_id: str | None


class CampaignOut(BaseModel):
    id: str
    merchant_id: str
    name: str
    objective: str | None = omit_none()
    fine_print: str | None = omit_none()
    start_at: WireDateTime
    end_at: WireDateTime
    redeemable_from: WireDateTime
    redeemable_to: WireDateTime
    time_zone: str
    state: CampaignState = Field(description="Derived from now: `scheduled`, `active` or `ended`.")
    created_at: WireDateTime
    variants: list[VariantOut]


class CampaignEnvelope(BaseModel):
    campaign: CampaignOut


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]
    pagination: Pagination
