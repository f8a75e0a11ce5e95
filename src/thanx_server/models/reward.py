from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column

from thanx_server.domain.states import RewardState
from thanx_server.kit.clock import business_now
from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column
from thanx_server.models.merchant import Merchant


class Reward(Base):
    """A reward held by a user.

    States (``RewardState``, moves in ``REWARD_STATES``): ``available`` → ``active`` → ``used``;
    internally also ``revoked`` (its issuance job was revoked) and ``retired`` (derived, never
    stored: past ``retire_at`` and not used), which the API never lists. Presentation fields
    (fine print, redeem, images) are copied from the campaign and template at issue time, so later
    edits to a template do not change rewards already held.
    """

    __tablename__ = "rewards"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE")
    )
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    variant_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    reward_template_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    issuance_job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    identifier_index: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default=RewardState.AVAILABLE)
    earn_type: Mapped[str] = mapped_column(String(40), default="campaign")
    redeem: Mapped[dict[str, Any]]
    images: Mapped[dict[str, Any]]
    fine_print: Mapped[str | None] = mapped_column(Text)
    instructions: Mapped[str | None] = mapped_column(Text)
    coupon_code: Mapped[str | None] = mapped_column(String(100))
    coupon_code_type: Mapped[str | None] = mapped_column(String(20))
    coupon_code_display: Mapped[str | None] = mapped_column(String(100))
    uses_dynamic_coupon_codes: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Where an active reward will be redeemed (PATCH /rewards/{id}, reference C.7).
    location_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("locations.id", ondelete="SET NULL")
    )
    available_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]
    retire_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=business_now)

    __table_args__ = (
        # A job issues at most one reward per identifier, whatever happens to its workers.
        UniqueConstraint("issuance_job_id", "identifier_index"),
        # GET /rewards: a user's rewards by state, newest first.
        Index("ix_rewards_user_state_created", "user_id", "state", "created_at"),
    )

    # Whether the merchant is Olo-integrated (then it shows ``olo_uid``): a correlated
    # column_property, assigned below the class (it joins on this class's merchant_id).
    if TYPE_CHECKING:
        merchant_olo: bool


class EndUserToken(Base):
    """An end-user access token minted by POST /partner/oauth/token. Only its digest is stored."""

    __tablename__ = "end_user_tokens"

    id: Mapped[str] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE")
    )
    credential_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("partner_credentials.id", ondelete="SET NULL")
    )
    scope: Mapped[str] = mapped_column(String(50), default="passwordless")
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


# Read in the same SELECT as the reward; a flush does not expire it (it does not change with it).
Reward.merchant_olo = column_property(  # type: ignore[assignment]  # mapped after the class
    select(Merchant.olo_integrated)
    .where(Merchant.id == Reward.merchant_id)
    .correlate_except(Merchant)
    .scalar_subquery(),
    expire_on_flush=False,
)
