"""Wire shapes of reward templates (reference B.8, plus ``merchant_id``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from thanx_server.domain.venues import VenueOut
from thanx_server.kit.pagination import Pagination


class RewardTemplateOut(BaseModel):
    id: str
    merchant_id: str
    name: str
    type: str
    subtype: str | None
    description: str | None
    fine_print: str | None
    discount: dict[str, Any]
    redemption_venue: VenueOut
    images: dict[str, Any]


class RewardTemplateList(BaseModel):
    reward_templates: list[RewardTemplateOut]
    pagination: Pagination


class RewardTemplateEnvelope(BaseModel):
    reward_template: RewardTemplateOut
