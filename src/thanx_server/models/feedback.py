from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.domain.states import FEEDBACK_STATES, FeedbackState
from thanx_server.kit.clock import business_now
from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column

# The stored states (`expired` is derived from `expires_at` when read, never stored).
_STORED = ", ".join(f"'{state}'" for state in FEEDBACK_STATES.stored)


class Feedback(Base):
    """A feedback opportunity opened by a purchase, and what the customer and merchant said."""

    __tablename__ = "feedbacks"
    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id", "merchant_id"],
            ["memberships.user_id", "memberships.merchant_id"],
            name="fk_feedbacks_membership",
            ondelete="CASCADE",
        ),
        CheckConstraint(f"state IN ({_STORED})", name="state"),
        CheckConstraint("rating IS NULL OR (rating >= 0 AND rating <= 10)", name="rating"),
        # The list's order (newest first) within a merchant.
        Index("ix_feedbacks_merchant_created", "merchant_id", "created_at", "id"),
        # The same order across merchants (a wide credential's list).
        Index("ix_feedbacks_created", "created_at", "id"),
        # A merchant's records changed since a time: changed, or expired (``updated_after``).
        Index("ix_feedbacks_merchant_updated", "merchant_id", "updated_at"),
        Index("ix_feedbacks_merchant_expires", "merchant_id", "expires_at"),
    )

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    location_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("locations.id", ondelete="SET NULL"), index=True
    )
    purchase_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("purchases.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(20), default=FeedbackState.UNVIEWED, index=True)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    review: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    viewed_at: Mapped[datetime | None]
    rated_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        default=business_now, onupdate=business_now, index=True
    )
