"""The sandbox control plane's state (issue 13): kept in the database, so every API process and
worker of an instance sees the same controls."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import Base

CLOCK_ROW_ID = 1


class SandboxClock(Base):
    """The instance's one clock (row ``id = 1``; no row: the machine's clock).

    Frozen at ``frozen_at``, or running at the machine's pace shifted by ``offset_us``
    microseconds. ``version`` grows with every move, so two controls moving the clock at once
    cannot both win (an UPDATE guarded by the version they read).
    """

    __tablename__ = "sandbox_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    frozen_at: Mapped[datetime | None]
    offset_us: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
