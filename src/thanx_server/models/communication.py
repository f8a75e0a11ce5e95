from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.kit.clock import business_now
from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class CommunicationSetting(Base):
    """What one member agreed to hear from one merchant (reference B.4.4).

    One row per membership, created with it; every channel defaults to on.
    """

    __tablename__ = "communication_settings"
    __table_args__ = (
        UniqueConstraint("user_id", "merchant_id", name="uq_communication_settings_member"),
        ForeignKeyConstraint(
            ["user_id", "merchant_id"],
            ["memberships.user_id", "memberships.merchant_id"],
            name="fk_communication_settings_membership",
            ondelete="CASCADE",
        ),
    )

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    reward_progress_email: Mapped[bool] = mapped_column(Boolean, default=True)
    reward_offer_notification: Mapped[bool] = mapped_column(Boolean, default=True)
    reward_offer_email: Mapped[bool] = mapped_column(Boolean, default=True)
    marketing_general_email: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=business_now, onupdate=business_now)
