"""Wire shapes of the feedback endpoints (reference B.6.1)."""

from __future__ import annotations

from pydantic import BaseModel, StrictInt, StrictStr

from thanx_server.domain.states import FeedbackState
from thanx_server.feedback.service import FeedbackView
from thanx_server.kit.pagination import Pagination
from thanx_server.kit.wire import WireDateTime, WireDecimal


class OrderOut(BaseModel):
    id: str
    provider: str


class FeedbackPurchaseOut(BaseModel):
    id: str
    purchased_at: WireDateTime
    amount: WireDecimal
    order: OrderOut | None = None


class FeedbackOut(BaseModel):
    id: str
    user_id: str
    merchant_id: str
    location_id: str | None
    state: FeedbackState
    expires_at: WireDateTime
    purchased_at: WireDateTime
    viewed_at: WireDateTime | None
    rated_at: WireDateTime | None
    reviewed_at: WireDateTime | None
    responded_at: WireDateTime | None
    rating: int | None
    review: str | None
    response: str | None
    purchase: FeedbackPurchaseOut
    created_at: WireDateTime
    updated_at: WireDateTime

    @classmethod
    def from_view(cls, view: FeedbackView) -> FeedbackOut:
        return cls(
            id=view.id,
            user_id=view.user_id,
            merchant_id=view.merchant_id,
            location_id=view.location_id,
            state=view.state,
            expires_at=view.expires_at,
            purchased_at=view.purchased_at,
            viewed_at=view.viewed_at,
            rated_at=view.rated_at,
            reviewed_at=view.reviewed_at,
            responded_at=view.responded_at,
            rating=view.rating,
            review=view.review,
            response=view.response,
            purchase=FeedbackPurchaseOut(
                id=view.purchase_id, purchased_at=view.purchased_at, amount=view.amount
            ),
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


class FeedbackEnvelope(BaseModel):
    feedback: FeedbackOut


class FeedbackList(BaseModel):
    feedbacks: list[FeedbackOut]
    pagination: Pagination


class ResponseFields(BaseModel):
    response: StrictStr


class RespondIn(BaseModel):
    feedback: ResponseFields


class RatingFields(BaseModel):
    rating: StrictInt


class RateIn(BaseModel):
    feedback: RatingFields


class ReviewFields(BaseModel):
    review: StrictStr


class ReviewIn(BaseModel):
    feedback: ReviewFields
