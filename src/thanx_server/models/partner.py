from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at_column()


class PartnerCredential(Base):
    """A client id + access token pair. Only the token's SHA-256 digest is stored."""

    __tablename__ = "partner_credentials"

    id: Mapped[str] = id_column()
    partner_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class PartnerMerchant(Base):
    """Which merchants opted into a partner's integration (every credential of the partner)."""

    __tablename__ = "partner_merchants"

    partner_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True
    )
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH),
        ForeignKey("merchants.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
