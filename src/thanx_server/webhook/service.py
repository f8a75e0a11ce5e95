"""Rules for webhook endpoints, the delivery log, redelivery, recovery and triggers.

Endpoints belong to a merchant; a controller (an operator, or a partner credential with the
``sandbox`` scope for its own merchants) manages them over ``/sandbox/...``, an operator also
with ``thanx-server admin webhook ...``. A secret is generated (or given, for ``listen``'s
stable secret), returned once by create and by rotate, and never shown again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit import clock
from thanx_server.kit.errors import InvalidState, NotFound, ValidationFailed
from thanx_server.kit.ids import new_ids
from thanx_server.kit.pagination import Page, PageResult
from thanx_server.kit.scoping import MerchantScope
from thanx_server.models import WebhookAttempt, WebhookEndpoint, WebhookEvent
from thanx_server.webhook import repository, safety
from thanx_server.webhook.events import EventType
from thanx_server.webhook.signing import new_webhook_secret

FAULTS = ("duplicate", "delay", "reorder", "drop")
MIN_SECRET_LENGTH = 16
MAX_HEADERS = 20
# Headers a static-header setting may not override: they carry the signature and the body.
RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "x-thanx-signature",
        "x-thanx-signature-previous",
        "x-thanx-event",
        "x-thanx-event-id",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "transfer-encoding",
    }
)
MAX_RECOVER = 100_000


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    production: bool
    allow_private: bool
    # How a host name is resolved for the check (tests pass a resolver they control).
    resolve: safety.Resolver = safety.system_resolve


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    endpoint: WebhookEndpoint
    secret: str


def _event_types(values: Sequence[str] | None) -> list[str]:
    known = {t.value for t in EventType}
    types = list(dict.fromkeys(values or ()))
    for i, value in enumerate(types):
        if value not in known:
            raise ValidationFailed(
                f"webhook_endpoint.event_types[{i}]: unknown event '{value}' "
                f"(one of {', '.join(sorted(known))})"
            )
    return types


def _headers(values: Mapping[str, str] | None) -> dict[str, str]:
    headers = dict(values or {})
    if len(headers) > MAX_HEADERS:
        raise ValidationFailed(f"webhook_endpoint.headers: at most {MAX_HEADERS} headers")
    for name, value in headers.items():
        if not name or not all(33 <= ord(c) < 127 and c not in '()<>@,;:\\"/[]?={}' for c in name):
            raise ValidationFailed(f"webhook_endpoint.headers: '{name}' is not a header name")
        if name.lower() in RESERVED_HEADERS:
            raise ValidationFailed(f"webhook_endpoint.headers: '{name}' is set by the server")
        if any(ord(c) < 32 or ord(c) == 127 for c in value) or len(value) > 1000:
            raise ValidationFailed(f"webhook_endpoint.headers.{name}: is not a valid value")
    return headers


def _fault(value: str | None) -> str | None:
    if value is not None and value not in FAULTS:
        raise ValidationFailed(f"webhook_endpoint.fault: must be one of {', '.join(FAULTS)}")
    return value


def _secret(value: str | None) -> str:
    if value is None:
        return new_webhook_secret()
    if len(value) < MIN_SECRET_LENGTH or len(value) > 128 or not value.isprintable():
        raise ValidationFailed(
            f"webhook_endpoint.secret: must be {MIN_SECRET_LENGTH} to 128 printable characters"
        )
    return value


async def create_endpoint(
    session: AsyncSession,
    scope: MerchantScope,
    *,
    merchant_id: str,
    url: str,
    policy: UrlPolicy,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
    enabled: bool = True,
    retry_mode: bool = False,
    standard_headers: bool = False,
    fault: str | None = None,
) -> EndpointWithSecret:
    if merchant_id not in scope and not scope.everything:
        raise NotFound("webhook_endpoint.merchant_id: no such merchant")
    await safety.check_url(
        url,
        production=policy.production,
        allow_private=policy.allow_private,
        resolve=policy.resolve,
    )
    now = clock.business_now()
    endpoint = WebhookEndpoint(
        merchant_id=merchant_id,
        url=url,
        description=description,
        event_types=_event_types(event_types),
        headers=_headers(headers),
        secret=_secret(secret),
        enabled=enabled,
        retry_mode=retry_mode,
        standard_headers=standard_headers,
        fault=_fault(fault),
        created_at=now,
        updated_at=now,
    )
    repository.add_endpoint(session, endpoint)
    await session.flush()
    return EndpointWithSecret(endpoint, endpoint.secret)


async def get_endpoint(
    session: AsyncSession, scope: MerchantScope, endpoint_id: str
) -> WebhookEndpoint:
    endpoint = await repository.get_endpoint(session, scope, endpoint_id)
    if endpoint is None:
        raise NotFound()
    return endpoint


async def list_endpoints(
    session: AsyncSession, scope: MerchantScope, page: Page
) -> PageResult[WebhookEndpoint]:
    return await repository.list_endpoints(session, scope, page)


UPDATABLE = frozenset(
    {
        "url",
        "description",
        "event_types",
        "headers",
        "enabled",
        "retry_mode",
        "standard_headers",
        "fault",
    }
)


async def update_endpoint(
    session: AsyncSession,
    scope: MerchantScope,
    endpoint_id: str,
    *,
    changes: Mapping[str, Any],
    policy: UrlPolicy,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, scope, endpoint_id)
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValidationFailed(f"webhook_endpoint.{sorted(unknown)[0]}: cannot be changed")
    if "url" in changes:
        await safety.check_url(
            changes["url"],
            production=policy.production,
            allow_private=policy.allow_private,
            resolve=policy.resolve,
        )
        endpoint.url = changes["url"]
    if "event_types" in changes:
        endpoint.event_types = _event_types(changes["event_types"])
    if "headers" in changes:
        endpoint.headers = _headers(changes["headers"])
    if "fault" in changes:
        endpoint.fault = _fault(changes["fault"])
    if "description" in changes:
        endpoint.description = changes["description"]
    for flag in ("retry_mode", "standard_headers"):
        if flag in changes:
            setattr(endpoint, flag, bool(changes[flag]))
    if "enabled" in changes:
        endpoint.enabled = bool(changes["enabled"])
        if endpoint.enabled:
            endpoint.disabled_reason = None
    endpoint.updated_at = clock.business_now()
    await session.flush()
    return endpoint


async def delete_endpoint(session: AsyncSession, scope: MerchantScope, endpoint_id: str) -> None:
    endpoint = await get_endpoint(session, scope, endpoint_id)
    await repository.delete_endpoint(session, endpoint.id)


async def rotate_secret(
    session: AsyncSession,
    scope: MerchantScope,
    endpoint_id: str,
    *,
    grace: timedelta,
    secret: str | None = None,
) -> EndpointWithSecret:
    """A new secret signs from now on; the old one also signs until ``grace`` has passed
    (``X-Thanx-Signature-Previous``, and a second ``v1,`` in ``webhook-signature``)."""
    endpoint = await get_endpoint(session, scope, endpoint_id)
    now = clock.business_now()
    endpoint.previous_secret = endpoint.secret if grace > timedelta(0) else None
    endpoint.previous_secret_expires_at = now + grace if grace > timedelta(0) else None
    endpoint.secret = _secret(secret)
    endpoint.updated_at = now
    await session.flush()
    return EndpointWithSecret(endpoint, endpoint.secret)


async def list_attempts(
    session: AsyncSession,
    scope: MerchantScope,
    page: Page,
    *,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    event_type: str | None = None,
    succeeded: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PageResult[WebhookAttempt]:
    return await repository.list_attempts(
        session,
        scope,
        page,
        endpoint_id=endpoint_id,
        event_id=event_id,
        event_type=event_type,
        succeeded=succeeded,
        since=since,
        until=until,
    )


@dataclass(frozen=True, slots=True)
class OutboxHealth:
    pending_deliveries: int
    oldest_pending: datetime | None  # when the oldest pending delivery was queued
    undispatched_events: int


async def outbox_health(session: AsyncSession, scope: MerchantScope) -> OutboxHealth:
    """How far the delivery workers are behind, within a scope (the console's overview)."""
    return OutboxHealth(*await repository.outbox_health(session, scope))


async def event_as_sent(
    session: AsyncSession, scope: MerchantScope, event_id: str
) -> tuple[WebhookEvent, str]:
    """One event of the scope with the body its deliveries send (a framed event's part put
    back between its frame's prefix and suffix, as the sender does): ``(event, body)``. An
    event still in the outbox (written, not yet expanded by a worker) is shown as well."""
    event: WebhookEvent | None = await repository.get_event(
        session, scope, event_id
    ) or await repository.outbox_event(session, scope, event_id)
    if event is None:
        raise NotFound(f"id: no webhook event '{event_id}'")
    body = event.body
    if event.frame_id is not None:
        parts = await repository.frame_parts(session, event.frame_id)
        if parts is not None:
            body = parts[0] + body + parts[1]
    return event, body


async def redeliver(
    session: AsyncSession, scope: MerchantScope, event_id: str, *, endpoint_id: str | None
) -> list[str]:
    """Queue the event again (a new delivery, same event id) for one endpoint, or for every
    endpoint of its merchant it was ever queued for (or, never queued, every subscribed one)."""
    event = await repository.get_event(session, scope, event_id)
    if event is None:
        if await repository.outbox_event(session, scope, event_id) is not None:
            raise InvalidState(
                "id: the event is not dispatched yet (a delivery worker queues it for its "
                "endpoints within moments); redeliver it once it has been sent"
            )
        raise NotFound()
    if endpoint_id is not None:
        endpoint = await repository.get_endpoint(session, scope, endpoint_id)
        if endpoint is None or endpoint.merchant_id != event.merchant_id:
            raise NotFound("endpoint_id: no such webhook endpoint of the event's merchant")
        targets = [endpoint.id]
    else:
        earlier = await repository.deliveries_of_event(session, event.id)
        targets = list(dict.fromkeys(d.endpoint_id for d in earlier))
        if not targets:
            targets = await repository.subscribed_endpoints(session, event.merchant_id, event.type)
    if not targets:
        raise ValidationFailed("endpoint_id: the event's merchant has no webhook endpoint")
    now = clock.business_now()
    ids = new_ids(len(targets))
    await repository.insert_deliveries(
        session, rows=[(ids[i], event.id, t) for i, t in enumerate(targets)], due=now, now=now
    )
    return ids


async def recover(
    session: AsyncSession,
    scope: MerchantScope,
    endpoint_id: str,
    *,
    since: datetime,
    until: datetime,
) -> int:
    """Queue every event of the endpoint's merchant created in ``[since, until)`` (of the types
    it subscribes to) for the endpoint again, in order. One INSERT."""
    if until <= since:
        raise ValidationFailed("until: must be after since")
    endpoint = await get_endpoint(session, scope, endpoint_id)
    found = await repository.events_between(
        session,
        MerchantScope.one(endpoint.merchant_id),
        since=since,
        until=until,
        types=endpoint.event_types,
    )
    if len(found) > MAX_RECOVER:
        raise ValidationFailed(f"since: the range holds more than {MAX_RECOVER} events; split it")
    if not found:
        return 0
    now = clock.business_now()
    ids = new_ids(len(found))
    await repository.insert_deliveries(
        session,
        rows=[(ids[i], event_id, endpoint.id) for i, (event_id, _) in enumerate(found)],
        due=now,
        now=now,
    )
    return len(found)
