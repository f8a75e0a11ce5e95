"""Wire shapes of the points endpoints (reference C.9)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from thanx_server.kit.pagination import ConsumerPagination
from thanx_server.kit.wire import WireDateTime, WireDecimal, omit_none
from thanx_server.models import PointsExperience, PointsProduct, RewardTemplate
from thanx_server.reward.schemas import IMAGE_SLOTS, ImagePair, Images, Redeem, olo_uid


class Currency(BaseModel):
    name: str
    plural: str
    description: str | None
    conversion: WireDecimal = Field(description="Points a purchase earns per currency unit.")


class PointsExperienceOut(BaseModel):
    id: str
    merchant_id: str
    name: str
    currency: Currency
    images: Images

    @classmethod
    def of(cls, experience: PointsExperience) -> PointsExperienceOut:
        return cls(
            id=experience.id,
            merchant_id=experience.merchant_id,
            name=experience.name,
            currency=Currency(
                name=experience.currency_name,
                plural=experience.currency_plural,
                description=experience.currency_description,
                conversion=experience.conversion,
            ),
            images=_images(experience.images),
        )


def _images(stored: dict[str, Any] | None) -> Images:
    stored = stored or {}
    return Images(**{slot: ImagePair(**(stored.get(slot) or {})) for slot in IMAGE_SLOTS})


class PointsExperienceEnvelope(BaseModel):
    points_experience: PointsExperienceOut


class PointsExperienceList(BaseModel):
    points_experiences: list[PointsExperienceOut]


class BalanceOut(BaseModel):
    points_experience_id: str
    user_id: str
    balance: WireDecimal
    tier: str = Field(description="The member's loyalty tier (moves with points earned).")


class BalanceEnvelope(BaseModel):
    balance: BalanceOut


class PointsProductOut(BaseModel):
    id: str
    # Only for Olo-integrated merchants (left out otherwise).
    olo_uid: str | None = omit_none()
    points_experience_id: str
    merchant_id: str
    name: str = Field(description="The reward the product gives.")
    cost: WireDecimal
    exchange_start_at: WireDateTime | None
    exchange_end_at: WireDateTime | None
    fine_print: str | None
    redeem: Redeem
    valid_location_ids: list[str] = Field(description="Empty: every location of the merchant.")
    image: ImagePair

    @classmethod
    def of(cls, product: PointsProduct, template: RewardTemplate) -> PointsProductOut:
        redeem: dict[str, Any] = template.redeem or {}
        index = (template.images or {}).get("index") or {}
        return cls(
            id=product.id,
            olo_uid=olo_uid(product.id) if product.merchant_olo else None,
            points_experience_id=product.points_experience_id,
            merchant_id=product.merchant_id,
            name=template.name,
            cost=product.cost,
            exchange_start_at=product.exchange_start_at,
            exchange_end_at=product.exchange_end_at,
            fine_print=template.fine_print,
            redeem=Redeem(
                type=str(redeem.get("type") or "manual"),
                text=redeem.get("text"),
                detail=redeem.get("detail"),
                window=redeem.get("window"),
                venue=template.redemption_venue,
            ),
            valid_location_ids=list(product.valid_location_ids or []),
            image=ImagePair(**index),
        )


class PointsProductList(BaseModel):
    points_products: list[PointsProductOut]
    pagination: ConsumerPagination
