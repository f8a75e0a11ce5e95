"""The sandbox control plane's state (issue 13): kept in the database, so every API process and
worker of an instance sees the same controls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.models.base import Base, created_at_column, id_column

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


class SandboxFaultRule(Base):
    """A fault rule (issue 13, item 4): requests of one operation (optionally of one merchant)
    answered with an error, delayed, or dropped; the first ``times`` calls, or a seeded
    ``fraction`` of them, or all. ``owner_client_id``: the partner credential whose requests it
    applies to (None: an operator's rule, everyone's). ``seen`` counts the calls it was asked
    about (the seeded draw's index), ``hits`` those it fired on."""

    __tablename__ = "sandbox_fault_rules"

    id: Mapped[str] = id_column()
    operation_id: Mapped[str] = mapped_column(String(100), index=True)
    merchant_id: Mapped[str | None] = mapped_column(String(64))
    owner_client_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str | None] = mapped_column(String(500))
    retry_after: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    times: Mapped[int | None] = mapped_column(Integer)
    fraction: Mapped[float | None] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    seen: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class SandboxProgression(Base):
    """A partner credential's default job progression (issue 13, item 3); no row: ``immediate``.
    Applied to the jobs it creates from then on (a ``SandboxJobControl`` each)."""

    __tablename__ = "sandbox_progressions"

    credential_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    polls: Mapped[int | None] = mapped_column(Integer)
    delay_seconds: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class SandboxJobControl(Base):
    """How one issuance job progresses in a sandbox; no row: ``immediate`` (a worker runs it).
    ``paused`` and ``step``: no worker claims it (``POST /sandbox/jobs/{id}/step`` runs chunks);
    ``after_polls``: claimable once ``polls_left`` reached 0 (each GET of the job counts);
    ``delay``: claimable from ``run_after`` on the sandbox clock."""

    __tablename__ = "sandbox_job_controls"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    polls_left: Mapped[int | None] = mapped_column(Integer)
    run_after: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class SandboxJournalEntry(Base):
    """One API request as the request journal keeps it (issue 13, item 5). Bodies are capped
    and their secrets redacted before they are written; ``client_id`` is the partner credential
    that sent it (None: an end-user token or nobody)."""

    __tablename__ = "sandbox_journal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    sandbox_at: Mapped[datetime]
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    auth: Mapped[str | None] = mapped_column(String(16))
    operation_id: Mapped[str | None] = mapped_column(String(100), index=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    query: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    request_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_body: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
