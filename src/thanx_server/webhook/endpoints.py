"""/sandbox/webhook_endpoints, /sandbox/webhook_attempts, /sandbox/webhook_events/{id}/redeliver,
/sandbox/webhook_endpoints/{id}/recover and /sandbox/webhooks/trigger (tag Sandbox).

Under ``/sandbox`` because Thanx has no self-serve registration (it registers endpoints by
e-mail): a partner's own management is a sandbox convenience; in production an operator manages
endpoints with ``thanx-server admin webhook ...`` (docs/DECISIONS.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Query, Response

from thanx_server.auth.dependencies import Controller
from thanx_server.kit.deps import AppSettings, DbSession
from thanx_server.kit.params import PageParams
from thanx_server.kit.wire import InstantIn
from thanx_server.sandbox.routing import control_router
from thanx_server.settings import Environment, Settings
from thanx_server.webhook import service, triggers
from thanx_server.webhook.events import EventType
from thanx_server.webhook.schemas import (
    AttemptList,
    AttemptOut,
    EndpointCreateIn,
    EndpointEnvelope,
    EndpointList,
    EndpointOut,
    EndpointUpdateIn,
    RecoverIn,
    RecoverOut,
    RedeliverIn,
    RedeliverOut,
    RotateIn,
    TriggerIn,
    TriggerOut,
)

router = control_router()
MerchantFilter = Annotated[str | None, Query(description="One merchant; omitted: all yours.")]


def policy(settings: Settings) -> service.UrlPolicy:
    return service.UrlPolicy(
        production=settings.environment is Environment.PRODUCTION,
        allow_private=settings.webhook_allow_private_addresses,
    )


@router.post(
    "/sandbox/webhook_endpoints",
    status_code=201,
    response_model=EndpointEnvelope,
    operation_id="createWebhookEndpoint",
)
async def create_endpoint(
    session: DbSession, principal: Controller, settings: AppSettings, body: EndpointCreateIn
) -> EndpointEnvelope:
    """Register an endpoint. The answer carries the signing `secret`, the only time it is
    shown."""
    fields = body.webhook_endpoint
    created = await service.create_endpoint(
        session,
        principal.merchants(fields.merchant_id),
        merchant_id=fields.merchant_id,
        url=fields.url,
        policy=policy(settings),
        event_types=[t.value for t in fields.event_types or ()],
        description=fields.description,
        headers=fields.headers,
        secret=fields.secret,
        enabled=fields.enabled,
        retry_mode=fields.retry_mode,
        standard_headers=fields.standard_headers,
        fault=fields.fault,
    )
    return EndpointEnvelope(
        webhook_endpoint=EndpointOut.of(created.endpoint, secret=created.secret)
    )


@router.get(
    "/sandbox/webhook_endpoints", response_model=EndpointList, operation_id="listWebhookEndpoints"
)
async def list_endpoints(
    session: DbSession, principal: Controller, page: PageParams, merchant_id: MerchantFilter = None
) -> EndpointList:
    result = await service.list_endpoints(session, principal.merchants(merchant_id), page)
    return EndpointList(
        webhook_endpoints=[EndpointOut.of(e) for e in result.items],
        pagination=result.pagination(),
    )


@router.get(
    "/sandbox/webhook_endpoints/{id}",
    response_model=EndpointEnvelope,
    operation_id="getWebhookEndpoint",
)
async def get_endpoint(session: DbSession, principal: Controller, id: str) -> EndpointEnvelope:
    endpoint = await service.get_endpoint(session, principal.merchants(), id)
    return EndpointEnvelope(webhook_endpoint=EndpointOut.of(endpoint))


@router.patch(
    "/sandbox/webhook_endpoints/{id}",
    response_model=EndpointEnvelope,
    operation_id="updateWebhookEndpoint",
)
async def update_endpoint(
    session: DbSession,
    principal: Controller,
    settings: AppSettings,
    id: str,
    body: EndpointUpdateIn,
) -> EndpointEnvelope:
    """Change the URL, filter, headers, modes or fault, or enable/disable the endpoint."""
    endpoint = await service.update_endpoint(
        session,
        principal.merchants(),
        id,
        changes=body.webhook_endpoint.changes(),
        policy=policy(settings),
    )
    return EndpointEnvelope(webhook_endpoint=EndpointOut.of(endpoint))


@router.delete(
    "/sandbox/webhook_endpoints/{id}", status_code=204, operation_id="deleteWebhookEndpoint"
)
async def delete_endpoint(session: DbSession, principal: Controller, id: str) -> Response:
    await service.delete_endpoint(session, principal.merchants(), id)
    return Response(status_code=204)


@router.post(
    "/sandbox/webhook_endpoints/{id}/rotate_secret",
    response_model=EndpointEnvelope,
    operation_id="rotateWebhookSecret",
)
async def rotate_secret(
    session: DbSession, principal: Controller, settings: AppSettings, id: str, body: RotateIn
) -> EndpointEnvelope:
    """A new secret (shown once); the previous one keeps signing for the grace period."""
    grace = (
        settings.webhook_secret_grace
        if body.grace_seconds is None
        else timedelta(seconds=body.grace_seconds)
    )
    rotated = await service.rotate_secret(
        session, principal.merchants(), id, grace=grace, secret=body.secret
    )
    return EndpointEnvelope(
        webhook_endpoint=EndpointOut.of(rotated.endpoint, secret=rotated.secret)
    )


@router.post(
    "/sandbox/webhook_endpoints/{id}/recover",
    status_code=202,
    response_model=RecoverOut,
    operation_id="recoverWebhookEvents",
)
async def recover(
    session: DbSession, principal: Controller, id: str, body: RecoverIn
) -> RecoverOut:
    """Send every event of the endpoint's merchant created in `[since, until)` again."""
    queued = await service.recover(
        session, principal.merchants(), id, since=body.since, until=body.until
    )
    return RecoverOut(endpoint_id=id, queued=queued)


@router.get(
    "/sandbox/webhook_attempts", response_model=AttemptList, operation_id="listWebhookAttempts"
)
async def list_attempts(
    session: DbSession,
    principal: Controller,
    page: PageParams,
    merchant_id: MerchantFilter = None,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    event_type: EventType | None = None,
    succeeded: bool | None = None,
    since: Annotated[InstantIn | None, Query()] = None,
    until: Annotated[InstantIn | None, Query()] = None,
) -> AttemptList:
    """The delivery log: every attempt, newest first."""
    result = await service.list_attempts(
        session,
        principal.merchants(merchant_id),
        page,
        endpoint_id=endpoint_id,
        event_id=event_id,
        event_type=event_type.value if event_type is not None else None,
        succeeded=succeeded,
        since=since,
        until=until,
    )
    return AttemptList(
        webhook_attempts=[AttemptOut.of(a) for a in result.items],
        pagination=result.pagination(),
    )


@router.post(
    "/sandbox/webhook_events/{id}/redeliver",
    status_code=202,
    response_model=RedeliverOut,
    operation_id="redeliverWebhookEvent",
)
async def redeliver(
    session: DbSession, principal: Controller, id: str, body: RedeliverIn
) -> RedeliverOut:
    """Send one event again (same event id), to one endpoint or to those it went to."""
    ids = await service.redeliver(session, principal.merchants(), id, endpoint_id=body.endpoint_id)
    return RedeliverOut(event_id=id, delivery_ids=ids)


@router.post(
    "/sandbox/webhooks/trigger",
    status_code=202,
    response_model=TriggerOut,
    operation_id="triggerWebhook",
)
async def trigger(session: DbSession, principal: Controller, body: TriggerIn) -> TriggerOut:
    """Send any of the five events, built from real state (a reward, job, member or purchase)."""
    event_id, merchant_id, queued, payload = await triggers.trigger(
        session,
        principal.merchants(body.merchant_id),
        event=body.event,
        subject_id=body.subject_id,
        overrides=body.overrides,
        delay=timedelta(seconds=body.deliver_after_seconds),
    )
    return TriggerOut(
        event_id=event_id,
        event=body.event.value,
        merchant_id=merchant_id,
        deliveries=queued,
        body=payload,
    )


ROUTERS = (router,)
