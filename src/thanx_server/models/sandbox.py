"""The sandbox control plane's state (issue 13): kept in the database, so every API process and
worker of an instance sees the same controls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


BASELINE_ROW_ID = 1


class SandboxBaseline(Base):
    """The start state ``POST /sandbox/reset`` goes back to: a snapshot document (row ``id = 1``;
    no row: an empty instance). Saved by loading fixtures or by ``/sandbox/baseline``;
    ``version`` grows with each save, so processes can cache the decoded rows by it."""

    __tablename__ = "sandbox_baselines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]]
    saved_at: Mapped[datetime]
