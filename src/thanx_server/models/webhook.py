"""Webhooks (issue 14): endpoints, the outbox of events, the delivery queue and the attempt log.

The events of a state change are written as one outbox row in its transaction and expanded into
event rows by a delivery worker after commit; a delivery row per (event, endpoint) is the queue
entry a delivery worker claims with a lease; every HTTP attempt is one row of the log.
``body`` is the exact JSON bytes that are sent and signed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from thanx_server.domain.states import DeliveryState
from thanx_server.kit.time import utcnow
from thanx_server.models.base import ID_LENGTH, Base, created_at_column, id_column


class WebhookEndpoint(Base):
    """Where one merchant's events go. ``secret`` is kept as given (it must sign every body);
    after a rotation ``previous_secret`` also signs until ``previous_secret_expires_at``."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(200))
    # Event types delivered; empty: every type.
    event_types: Mapped[list[str]]
    # Extra static headers sent on every call (query parameters travel in ``url``).
    headers: Mapped[dict[str, Any]]
    secret: Mapped[str] = mapped_column(String(128))
    previous_secret: Mapped[str | None] = mapped_column(String(128))
    previous_secret_expires_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    # Off: one attempt (Thanx's behaviour). On: the Standard Webhooks retry schedule.
    retry_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    # Also send webhook-id / webhook-timestamp / webhook-signature (Standard Webhooks).
    standard_headers: Mapped[bool] = mapped_column(Boolean, default=False)
    # Sandbox delivery fault for testing receivers: none, duplicate, delay, reorder, drop.
    fault: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEventFrame(Base):
    """What the events of one issuance chunk share: the body before and after each event's own
    part (``reward.issued`` bodies differ only in the reward, identifier and user). Stored once
    per chunk instead of 2,000 times: the chunk writes a sixth of the bytes."""

    __tablename__ = "webhook_event_frames"

    id: Mapped[str] = id_column()
    prefix: Mapped[str] = mapped_column(Text)
    suffix: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class WebhookOutbox(Base):
    """The outbox: the events of one state change, written in its transaction as ONE row.

    An issuance chunk's ~2,000 ``reward.issued`` events, a finished job's
    ``reward_batch.completed``, a settings change: each ``emit`` is one row whose ``events`` is
    the JSON array of its events' ``[id, subject id, body]`` (ids are chosen here, so they are
    final from the start). A delivery worker expands the row into ``webhook_events`` and their
    deliveries and deletes it, all in one transaction (``tasks.dispatch``): the state change pays
    for one row and one index entry, not for one row per event and its indexes.
    """

    __tablename__ = "webhook_outbox"
    __table_args__ = (
        # The dispatcher takes the oldest rows first.
        Index("ix_webhook_outbox_created", "created_at", "id"),
    )

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    type: Mapped[str] = mapped_column(String(40))
    frame_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    # JSON array of [event id, subject id, body]; Text, not JSON: nothing reads inside it in SQL.
    events: Mapped[str] = mapped_column(Text)
    event_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
    deliver_after: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """One event, as expanded from its outbox row by a delivery worker (``WebhookOutbox``), with
    its deliveries queued in the same transaction.

    The exact body sent (and signed) is ``body``, or ``frame.prefix + body + frame.suffix`` when
    the event has a frame.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_merchant_created", "merchant_id", "created_at"),)

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    type: Mapped[str] = mapped_column(String(40))
    # The id of what the event is about (reward, job, purchase, settings row, user).
    subject_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    frame_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    # Not sent before this instant (purchases: 10 minutes after the purchase).
    deliver_after: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: the queue entry a delivery worker claims with a lease."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The claim: due pending deliveries in (next_attempt_at, id) order, read from the index
        # in that order so a claim stops after its candidates (a job's deliveries share one
        # due time: without ``id`` here every claim sorted the whole backlog).
        Index("ix_webhook_deliveries_state_next_id", "state", "next_attempt_at", "id"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[str] = id_column()
    event_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    # A DeliveryState value; its moves are DELIVERY_STATES (domain/states.py).
    state: Mapped[str] = mapped_column(String(20), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(Base):
    """One HTTP attempt (the delivery log), kept ``THANX_WEBHOOK_LOG_RETENTION``."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        Index("ix_webhook_attempts_endpoint_at", "endpoint_id", "attempted_at"),
        Index("ix_webhook_attempts_at", "attempted_at"),
    )

    id: Mapped[str] = id_column()
    delivery_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    event_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    endpoint_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    merchant_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    event_type: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(300))
