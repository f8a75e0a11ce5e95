from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import Base, created_at_column, id_column


class OperatorCredential(Base):
    """Who may steer the whole sandbox (the clock, resets of everything, snapshots) and, later,
    the console. A client id + access token pair like a partner's; only the token's SHA-256
    digest is stored. Not a partner: it reaches no Partner API endpoint."""

    __tablename__ = "operator_credentials"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
