"""Wire shapes of the Consumer API reward endpoints (consumer-rewards.seed.txt, reference C.1)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictStr

from thanx_server.domain.states import RewardState
from thanx_server.domain.venues import VenueOut
from thanx_server.kit.pagination import ConsumerPagination
from thanx_server.kit.wire import WireDateTime, omit_none
from thanx_server.models import Reward

IMAGE_SLOTS = ("index", "detail", "advertising")
# The states a client can see (LISTED_REWARD_STATES): revoked and retired rewards are never shown.
ListedState = Literal[RewardState.AVAILABLE, RewardState.ACTIVE, RewardState.USED]
# A code is shown once the reward was activated.
_CODE_SHOWN = (RewardState.ACTIVE, RewardState.USED)


class Earn(BaseModel):
    type: str


class Redeem(BaseModel):
    type: str
    text: str | None
    detail: str | None
    window: int | None = Field(description="Minutes the reward stays usable after activation.")
    venue: VenueOut


class CouponCode(BaseModel):
    code: str | None = None
    type: str | None = None
    display: str | None = None


class ImagePair(BaseModel):
    small: str | None = None
    large: str | None = None


class Images(BaseModel):
    index: ImagePair
    detail: ImagePair
    advertising: ImagePair


def olo_uid(entity_id: str) -> str:
    """The id an Olo-integrated merchant's POS knows a reward or product by (Olo's
    ``externalreference``): stable, derived from ours."""
    return f"thanx-{entity_id}"


class RewardOut(BaseModel):
    id: str
    # Only for Olo-integrated merchants (left out otherwise): use it instead of `id` with Olo.
    olo_uid: str | None = omit_none()
    user_id: str
    merchant_id: str
    campaign_id: str | None
    state: ListedState
    earn: Earn
    redeem: Redeem
    coupon_code: CouponCode
    uses_dynamic_coupon_codes: bool
    fine_print: str | None
    instructions: str | None
    available_at: WireDateTime
    activated_at: WireDateTime | None
    used_at: WireDateTime | None
    retire_at: WireDateTime | None
    images: Images
    location_id: str | None = Field(
        description="Where the active reward is to be redeemed (PATCH /rewards/{id}); else null."
    )

    @classmethod
    def of(cls, reward: Reward) -> RewardOut:
        redeem: dict[str, Any] = reward.redeem or {}
        images: dict[str, Any] = reward.images or {}
        code = reward.coupon_code if reward.state in _CODE_SHOWN else None
        return cls(
            id=reward.id,
            olo_uid=olo_uid(reward.id) if reward.merchant_olo else None,
            user_id=reward.user_id,
            merchant_id=reward.merchant_id,
            campaign_id=reward.campaign_id,
            state=reward.state,
            earn=Earn(type=reward.earn_type),
            redeem=Redeem(
                type=str(redeem.get("type") or "manual"),
                text=redeem.get("text"),
                detail=redeem.get("detail"),
                window=redeem.get("window"),
                venue=str(redeem.get("venue") or "all"),
            ),
            coupon_code=CouponCode(
                code=code,
                type=(reward.coupon_code_type or "text") if code else None,
                display=reward.coupon_code_display if code else None,
            ),
            uses_dynamic_coupon_codes=reward.uses_dynamic_coupon_codes,
            fine_print=reward.fine_print,
            instructions=reward.instructions,
            available_at=reward.available_at,
            activated_at=reward.activated_at,
            used_at=reward.used_at,
            retire_at=reward.retire_at,
            images=Images(**{slot: ImagePair(**(images.get(slot) or {})) for slot in IMAGE_SLOTS}),
            location_id=reward.location_id,
        )


class RewardEnvelope(BaseModel):
    reward: RewardOut


class RewardList(BaseModel):
    rewards: list[RewardOut]
    pagination: ConsumerPagination


class GrantRequest(BaseModel):
    campaign_id: str = Field(max_length=64)
    user_id: str | None = Field(
        default=None, max_length=64, description="Required with a partner credential."
    )


class RewardUpdateFields(BaseModel):
    location_id: StrictStr = Field(
        max_length=64, description="A location of the reward's merchant."
    )


class RewardUpdateIn(BaseModel):
    reward: RewardUpdateFields
