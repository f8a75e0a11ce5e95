from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    # Integrated with Olo: its rewards and points products carry ``olo_uid`` (reference C.1).
    olo_integrated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = created_at_column()


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(200))
    street: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(50))
    zip: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = created_at_column()
