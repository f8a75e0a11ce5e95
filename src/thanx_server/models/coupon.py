from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class CouponCode(Base):
    """One code of a template's dynamic coupon pool (reference C.1 ``uses_dynamic_coupon_codes``).
    Unclaimed while ``reward_id`` is NULL; activating a reward of the template claims one, once."""

    __tablename__ = "coupon_codes"
    __table_args__ = (
        UniqueConstraint("template_id", "code"),
        # The claim's lookup: the oldest unclaimed code of a template.
        Index("ix_coupon_codes_pool", "template_id", "reward_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    template_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("reward_templates.id", ondelete="CASCADE")
    )
    code: Mapped[str] = mapped_column(String(100))
    reward_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), unique=True)
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
