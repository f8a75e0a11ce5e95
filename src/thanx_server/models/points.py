from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, select
from sqlalchemy.orm import Mapped, column_property, mapped_column

from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column
from thanx_server.models.merchant import Merchant


class PointsExperience(Base):
    """A merchant's points programme (reference C.9): what its points are called and how many a
    purchase earns per currency unit (``conversion``). One per merchant: a member's balance is the
    membership's ``points_balance``."""

    __tablename__ = "points_experiences"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(200))
    currency_name: Mapped[str] = mapped_column(String(50))
    currency_plural: Mapped[str] = mapped_column(String(50))
    currency_description: Mapped[str | None] = mapped_column(Text)
    conversion: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    # {"index": {"small", "large"}, "detail": {...}, "advertising": {...}}
    images: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = created_at_column()


class PointsProduct(Base):
    """Something a member can buy with points: exchanging ``cost`` points gives a reward built
    from ``reward_template_id`` (``earn.type: points_exchange``)."""

    __tablename__ = "points_products"
    __table_args__ = (Index("ix_points_products_merchant_created", "merchant_id", "created_at"),)

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE")
    )
    points_experience_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("points_experiences.id", ondelete="CASCADE"), index=True
    )
    reward_template_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("reward_templates.id", ondelete="CASCADE")
    )
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    exchange_start_at: Mapped[datetime | None]
    exchange_end_at: Mapped[datetime | None]
    # Locations where the reward can be redeemed; empty: all of the merchant's.
    valid_location_ids: Mapped[list[str]]
    created_at: Mapped[datetime] = created_at_column()

    # Whether the merchant is Olo-integrated (then it shows ``olo_uid``): a correlated
    # column_property, assigned below the class (it joins on this class's merchant_id).
    if TYPE_CHECKING:
        merchant_olo: bool


# Read in the same SELECT as the product; a flush does not expire it (it does not change with it).
PointsProduct.merchant_olo = column_property(  # type: ignore[assignment]  # mapped after the class
    select(Merchant.olo_integrated)
    .where(Merchant.id == PointsProduct.merchant_id)
    .correlate_except(Merchant)
    .scalar_subquery(),
    expire_on_flush=False,
)
