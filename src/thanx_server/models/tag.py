from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.kit.clock import business_now
from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class Tag(Base):
    """A key -> list of strings attached to a (user, merchant) membership, shared by every partner
    of the merchant."""

    __tablename__ = "tags"
    __table_args__ = (
        # Also the index of GET /partner/tags (merchant_id, user_ids[], key).
        UniqueConstraint("merchant_id", "user_id", "key", name="uq_tags_member_key"),
        ForeignKeyConstraint(
            ["user_id", "merchant_id"],
            ["memberships.user_id", "memberships.merchant_id"],
            name="fk_tags_membership",
            ondelete="CASCADE",
        ),
        Index("ix_tags_user_id", "user_id"),
    )

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    user_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    key: Mapped[str] = mapped_column(String(100))
    values: Mapped[list[str]]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=business_now, onupdate=business_now)
