from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.domain.states import JobState
from thanx_server.kit.clock import business_now
from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class IssuanceJob(Base):
    """A reward issuance job. The row is the queue entry (written with the request that creates it).

    ``identifiers`` holds the submitted array as given; outcomes are keyed by its 0-based index.
    Workers claim a job by setting ``lease_owner``/``lease_expires_at`` and renew the lease while
    they work; a job whose lease expired is claimed again and resumes at ``processed_count``.
    """

    __tablename__ = "issuance_jobs"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    variant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    credential_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("partner_credentials.id", ondelete="SET NULL")
    )
    # A JobState value; its moves are JOB_STATES (domain/states.py).
    state: Mapped[str] = mapped_column(String(20), default=JobState.PENDING)
    identifiers: Mapped[list[Any]]
    total_count: Mapped[int] = mapped_column(Integer)
    processed_count: Mapped[int] = mapped_column(Integer, default=0)
    success_count: Mapped[int] = mapped_column(Integer, default=0)
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # job-level failure reason
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=business_now)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        # The claim query: oldest pending (or lease-expired processing) job first.
        Index("ix_issuance_jobs_state_created", "state", "created_at"),
    )


class IssuanceOutcome(Base):
    """What happened to one identifier of a job. The primary key makes each unit idempotent."""

    __tablename__ = "issuance_outcomes"

    job_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("issuance_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    identifier_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier_type: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    reward_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # NULL on success (reward issued, or holdout recorded for a Control variant).
    error: Mapped[str | None] = mapped_column(String(200))


class IdempotencyKey(Base):
    """A replayable response for ``X-Idempotency-Key`` (CONTRACT row 9), per credential."""

    __tablename__ = "idempotency_keys"

    id: Mapped[str] = id_column()
    credential_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("partner_credentials.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("credential_id", "key"),)
