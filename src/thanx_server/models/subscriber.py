from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.kit.clock import business_now
from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class Subscriber(Base):
    """An email opted into a merchant's loyalty marketing. Deliberately not a user: a subscriber
    never matches as a member (issuance, end-user tokens, the users endpoints)."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("merchant_id", "email", name="uq_subscribers_merchant_email"),
    )

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    birth_month: Mapped[int | None] = mapped_column(SmallInteger)
    birth_day: Mapped[int | None] = mapped_column(SmallInteger)
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    zip_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=business_now, onupdate=business_now)
