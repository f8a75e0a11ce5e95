"""Wire shapes of webhook endpoints, the delivery log, redelivery, recovery and triggers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from thanx_server.kit.pagination import Pagination
from thanx_server.kit.wire import InstantIn, WireDateTime
from thanx_server.models import WebhookAttempt, WebhookEndpoint
from thanx_server.webhook.events import EventType

Fault = Literal["duplicate", "delay", "reorder", "drop"]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_id: str = Field(max_length=64)
    url: str = Field(
        max_length=2000,
        description="http(s) URL; static query parameters are sent unchanged. Production: "
        "https only, no private or loopback address (unless the operator allows them).",
    )
    description: str | None = Field(default=None, max_length=200)
    event_types: list[EventType] | None = Field(
        default=None, description="Events to send; omitted or empty: all five."
    )
    headers: dict[str, str] | None = Field(default=None, description="Extra static headers.")
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=128,
        description="Omitted: generated. Returned once, in this answer.",
    )
    enabled: StrictBool = True
    retry_mode: StrictBool = Field(
        default=False,
        description="Off (Thanx): one attempt. On: the Standard Webhooks retry schedule.",
    )
    standard_headers: StrictBool = Field(
        default=False, description="Also send webhook-id, webhook-timestamp, webhook-signature."
    )
    fault: Fault | None = Field(
        default=None, description="Sandbox delivery fault for testing receivers."
    )


class EndpointCreateIn(BaseModel):
    webhook_endpoint: EndpointIn


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=200)
    event_types: list[EventType] | None = None
    headers: dict[str, str] | None = None
    enabled: StrictBool | None = None
    retry_mode: StrictBool | None = None
    standard_headers: StrictBool | None = None
    fault: Fault | None = None

    def changes(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True)
        # null clears a fault; for the other fields null means "keep".
        return {k: v for k, v in data.items() if v is not None or k == "fault"}


class EndpointUpdateIn(BaseModel):
    webhook_endpoint: EndpointUpdate


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: int | None = Field(
        default=None,
        ge=0,
        le=30 * 86400,
        description="How long the previous secret keeps signing (default: the server's).",
    )
    secret: str | None = Field(default=None, min_length=16, max_length=128)


class EndpointOut(BaseModel):
    id: str
    merchant_id: str
    url: str
    description: str | None
    event_types: list[str]
    headers: dict[str, Any]
    enabled: bool
    disabled_reason: str | None
    retry_mode: bool
    standard_headers: bool
    fault: str | None
    previous_secret_expires_at: WireDateTime | None
    created_at: WireDateTime
    updated_at: WireDateTime
    secret: str | None = Field(
        default=None, description="Only in the answers of create and rotate_secret."
    )

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, *, secret: str | None = None) -> EndpointOut:
        return cls(
            id=endpoint.id,
            merchant_id=endpoint.merchant_id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types or []),
            headers=dict(endpoint.headers or {}),
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            retry_mode=endpoint.retry_mode,
            standard_headers=endpoint.standard_headers,
            fault=endpoint.fault,
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
            secret=secret,
        )


class EndpointEnvelope(BaseModel):
    webhook_endpoint: EndpointOut


class EndpointList(BaseModel):
    webhook_endpoints: list[EndpointOut]
    pagination: Pagination


class AttemptOut(BaseModel):
    id: str
    delivery_id: str
    event_id: str
    event_type: str
    endpoint_id: str
    merchant_id: str
    attempt: int
    attempted_at: WireDateTime
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None

    @classmethod
    def of(cls, row: WebhookAttempt) -> AttemptOut:
        return cls(
            id=row.id,
            delivery_id=row.delivery_id,
            event_id=row.event_id,
            event_type=row.event_type,
            endpoint_id=row.endpoint_id,
            merchant_id=row.merchant_id,
            attempt=row.attempt,
            attempted_at=row.attempted_at,
            status_code=row.status_code,
            duration_ms=row.duration_ms,
            response_excerpt=row.response_excerpt,
            error=row.error,
        )


class AttemptList(BaseModel):
    webhook_attempts: list[AttemptOut]
    pagination: Pagination


class RedeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint_id: str | None = Field(default=None, max_length=64)


class RedeliverOut(BaseModel):
    event_id: str
    delivery_ids: list[str]


class RecoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: InstantIn
    until: InstantIn


class RecoverOut(BaseModel):
    endpoint_id: str
    queued: int


class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: EventType
    merchant_id: str | None = Field(default=None, max_length=64)
    subject_id: str | None = Field(
        default=None,
        max_length=64,
        description="The reward (reward.issued), issuance job (reward_batch.completed), member "
        "(communication_setting.updated, sms_subscription.created) or purchase "
        "(purchase.created) the event is built from; omitted: the merchant's newest.",
    )
    overrides: dict[str, Any] | None = Field(
        default=None,
        description="Merged into the event's object (`data` for reward events, else the one "
        "top-level object) after it is built from real state.",
    )
    deliver_after_seconds: int = Field(default=0, ge=0, le=86400)


class TriggerOut(BaseModel):
    event_id: str
    event: str
    merchant_id: str
    deliveries: int
    body: dict[str, Any]
