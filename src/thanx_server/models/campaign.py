from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class RewardTemplate(Base):
    """What a campaign variant gives. Only published templates are visible to partners."""

    __tablename__ = "reward_templates"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40), default="discount")
    subtype: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    fine_print: Mapped[str | None] = mapped_column(Text)
    instructions: Mapped[str | None] = mapped_column(Text)
    # {"type": "free_item" | "amount" | "percent", "value": number | null}
    discount: Mapped[dict[str, Any]]
    redemption_venue: Mapped[str] = mapped_column(String(20), default="all")
    # {"type": "manual" | "automatic", "text", "detail", "window" (minutes)}
    redeem: Mapped[dict[str, Any]]
    # {"index": {"small", "large"}, "detail": {...}, "advertising": {...}}
    images: Mapped[dict[str, Any]]
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    # Coupon codes (reference C.1 ``coupon_code``): a static code every reward shows, or a
    # dynamic pool (coupon_codes) from which activation pulls one per reward; neither: none.
    static_coupon_code: Mapped[str | None] = mapped_column(String(100))
    uses_dynamic_coupon_codes: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    coupon_code_type: Mapped[str | None] = mapped_column(String(20))
    coupon_code_display: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("ix_reward_templates_merchant_created", "merchant_id", "created_at"),)


class Campaign(Base):
    """A partner-created campaign (only those are listed by the Partner API)."""

    __tablename__ = "campaigns"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE")
    )
    # The partner whose credential created it; NULL for campaigns an operator created.
    partner_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("partners.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    objective: Mapped[str | None] = mapped_column(Text)
    fine_print: Mapped[str | None] = mapped_column(Text)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    redeemable_from: Mapped[datetime]
    redeemable_to: Mapped[datetime]
    time_zone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()

    __table_args__ = (Index("ix_campaigns_merchant_created", "merchant_id", "created_at"),)


class CampaignVariant(Base):
    __tablename__ = "campaign_variants"

    id: Mapped[str] = id_column()
    campaign_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # NULL for the "Control" (holdout) variant.
    reward_template_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("reward_templates.id", ondelete="RESTRICT")
    )
    position: Mapped[int] = mapped_column(Integer)
