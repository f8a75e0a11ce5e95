from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class Purchase(Base):
    """A purchase a partner reported for a member (POST /purchases)."""

    __tablename__ = "purchases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["user_id", "merchant_id"],
            ["memberships.user_id", "memberships.merchant_id"],
            name="fk_purchases_membership",
            ondelete="CASCADE",
        ),
        Index("ix_purchases_member", "merchant_id", "user_id"),
        # The demo loader finds its purchases by card id.
        Index("ix_purchases_merchant_card", "merchant_id", "card_id"),
    )

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    location_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("locations.id", ondelete="SET NULL"), index=True
    )
    card_id: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    points_earned: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    products: Mapped[list[str]]
    purchased_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()
