"""Wire shapes of POST /purchases (reference B.7.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, StrictStr

from thanx_server.domain.amounts import Amount
from thanx_server.kit.wire import InstantIn, WireDateTime, WireDecimal

if TYPE_CHECKING:
    from thanx_server.purchase.service import RecordedPurchase


class PurchaseFields(BaseModel):
    merchant_id: StrictStr
    user_id: StrictStr
    amount: Amount
    purchased_at: InstantIn
    location_id: StrictStr | None = None
    card_id: StrictStr | None = Field(default=None, max_length=64)
    products: list[StrictStr] = Field(default_factory=list, max_length=200)


class PurchaseIn(BaseModel):
    purchase: PurchaseFields


class PurchaseOut(BaseModel):
    id: str
    merchant_id: str
    user_id: str
    location_id: str | None
    card_id: str | None
    amount: WireDecimal
    points_earned: WireDecimal
    products: list[str]
    purchased_at: WireDateTime
    created_at: WireDateTime
    feedback_id: str = Field(description="The feedback opportunity the purchase opened.")

    @classmethod
    def from_recorded(cls, recorded: RecordedPurchase) -> PurchaseOut:
        purchase = recorded.purchase
        return cls(
            id=purchase.id,
            merchant_id=purchase.merchant_id,
            user_id=purchase.user_id,
            location_id=purchase.location_id,
            card_id=purchase.card_id,
            amount=purchase.amount,
            points_earned=purchase.points_earned,
            products=purchase.products,
            purchased_at=purchase.purchased_at,
            created_at=purchase.created_at,
            feedback_id=recorded.feedback.id,
        )


class PurchaseEnvelope(BaseModel):
    purchase: PurchaseOut
