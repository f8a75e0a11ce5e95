from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.kit.clock import business_now
from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class User(Base):
    """A Thanx user. ``email`` is stored normalised (lowercase) so uniqueness is case-insensitive;
    ``phone`` is stored in E.164."""

    __tablename__ = "users"
    __table_args__ = (
        # The members list's order (newest first): a page walks it and checks each user's
        # membership, instead of sorting every member in scope.
        Index("ix_users_created", "created_at", "id"),
    )

    id: Mapped[str] = id_column()
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date | None]
    zip_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        default=business_now, onupdate=business_now, index=True
    )


class Membership(Base):
    """A user enrolled in a merchant's loyalty programme."""

    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH),
        ForeignKey("merchants.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    joined_at: Mapped[datetime] = mapped_column(default=business_now)
    tier: Mapped[str] = mapped_column(String(20), default="bronze")
    points_balance: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    # Every point earned over the membership (purchases); spending never lowers it. The tier
    # follows it (domain/loyalty.py).
    points_earned: Mapped[Decimal] = mapped_column(
        Numeric(12, 2), default=Decimal("0"), server_default="0"
    )
    # When the member opted into the merchant's SMS marketing (the sms_subscription webhook).
    sms_opted_in_at: Mapped[datetime | None]
