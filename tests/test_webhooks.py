"""Webhooks (issue 14): the payloads of reference section D, the signature (the D.1 vector),
the outbox (events in the transaction of their state change), delivery, the log, retry mode,
slow receivers, endpoints over /sandbox, redeliver, recover and the trigger.

Deliveries go to a real HTTP receiver in the test's event loop (tests/webhook_receiver.py);
the delivery worker runs in process (``tasks.drain`` / ``Deliverer``), as in ``serve``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import signal
import ssl
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory, assert_error
from tests.test_issuance_workers import wait_for
from tests.webhook_receiver import Receiver, Reply, subscribe
from thanx_server.issuance import tasks as issuance_tasks
from thanx_server.kit import clock
from thanx_server.kit.db import Database
from thanx_server.kit.errors import NotFound
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.models import (
    Merchant,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventFrame,
    WebhookOutbox,
)
from thanx_server.sandbox.clock import service as clock_service
from thanx_server.settings import Environment, Settings
from thanx_server.webhook import http1, outbox, repository, sender, service, signing, tasks
from thanx_server.webhook.events import EventType
from thanx_server.webhook.worker import DeliveryWorker

# --- the signature ---------------------------------------------------------------------------

D1_SECRET = "f19ce124-48e4-45fb-b39b-4f9e3e1d4b1b"
D1_BODY = (
    b'{"purchase":{"id":"bd4163e4ea5e168431fdc4b8d1ea061f","amount":"7.76",'
    b'"purchased_at":"2024-03-26T21:38:36.000Z","event":"create","user":{"id":'
    b'"675c038cfc5f43591718936c18080855","email":"example@thanx.com","first_name":"Thanx",'
    b'"last_name":"Example"},"merchant":{"id":"a91f75a0dc2cc54a62ad8a1a05b9fa6b","name":'
    b'"Thanx Restaurant"},"location":{},"order":{},"products":["Latte"]}}'
)
D1_SIGNATURE = "425bf0e847d0647d6e3449c7c1cddadc2095a98c954a7549da0d01c417b833fd"


def test_signature_matches_the_docs_worked_example() -> None:
    assert signing.thanx_signature(D1_SECRET, D1_BODY) == D1_SIGNATURE
    assert signing.verify_thanx_signature(D1_SECRET, D1_BODY, D1_SIGNATURE)
    pretty = json.dumps(json.loads(D1_BODY), indent=2).encode()
    assert signing.thanx_signature(D1_SECRET, pretty) != D1_SIGNATURE


def test_the_purchase_payload_reproduces_the_docs_example_byte_for_byte() -> None:
    from decimal import Decimal
    from types import SimpleNamespace

    from thanx_server.webhook import events

    body = events.purchase(
        purchase_id="bd4163e4ea5e168431fdc4b8d1ea061f",
        amount=Decimal("7.76"),
        purchased_at=datetime(2024, 3, 26, 21, 38, 36, tzinfo=UTC),
        user=SimpleNamespace(
            id="675c038cfc5f43591718936c18080855",
            email="example@thanx.com",
            first_name="Thanx",
            last_name="Example",
        ),
        merchant=SimpleNamespace(id="a91f75a0dc2cc54a62ad8a1a05b9fa6b", name="Thanx Restaurant"),
        location=None,
        products=["Latte"],
    )
    assert body.encode() == D1_BODY


def test_standard_webhooks_signature_is_the_standards() -> None:
    secret = signing.new_webhook_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    ).decode()
    assert signing.standard_signature(secret, "msg_1", 1700000000, b"{}") == "v1," + expected


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.close()


async def issue(
    client: httpx.AsyncClient, cred: Any, merchant: Any, campaign: Any, identifiers: list[Any]
) -> str:
    """An issuance job of ``campaign``'s first variant, accepted; returns its id."""
    response = await client.post(
        "/partner/campaigns/issue",
        json={
            "merchant_id": merchant.id,
            "campaign_id": campaign.campaign.id,
            "variant_id": campaign.variants[0].id,
            "identifiers": identifiers,
        },
        headers=cred.headers(),
    )
    assert response.status_code == 202, response.text
    return str(response.json()["issuance_job"]["id"])


def config(**kw: Any) -> tasks.DeliveryConfig:
    values: dict[str, Any] = {
        "owner": "test-deliverer",
        "timeout": 5.0,
        "slots": 16,
        "per_endpoint": 8,
        "poll_interval": 0.05,
    }
    values.update(kw)
    return tasks.DeliveryConfig(**values)


class Clock:
    """The business clock, pinned and moved by the test (the sandbox clock's stand-in)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = utcnow()
        monkeypatch.setattr(clock, "business_now", lambda: self.now)

    def advance(self, delta: timedelta) -> None:
        self.now += delta


async def add_endpoint(
    client: httpx.AsyncClient, headers: dict[str, str], merchant: Merchant, url: str, **kw: Any
) -> dict[str, Any]:
    response = await client.post(
        "/sandbox/webhook_endpoints",
        json={"webhook_endpoint": {"merchant_id": merchant.id, "url": url, **kw}},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()["webhook_endpoint"]
    return endpoint


async def count(session: AsyncSession, model: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def emit_sms(
    session: AsyncSession, merchant_id: str, ids: list[str], *, now: datetime | None = None
) -> None:
    """``sms_subscription.created`` events of ``merchant_id`` with these ids and empty bodies,
    written as one outbox row (at the business clock's now unless given)."""
    await outbox.emit(
        session,
        merchant_id=merchant_id,
        type=EventType.SMS_SUBSCRIPTION,
        rows=[(event_id, None, "{}") for event_id in ids],
        now=now or clock.business_now(),
    )


def issuance_worker() -> issuance_tasks.WorkerConfig:
    return issuance_tasks.WorkerConfig(
        owner="test-issuer", lease=timedelta(seconds=60), chunk_size=2, max_attempts=5
    )


# --- reward.issued and reward_batch.completed ------------------------------------------------


async def test_a_job_sends_one_reward_issued_per_reward_and_one_batch_completed(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    merchant = await factory.merchant()
    users = [(await factory.member(merchant, email=f"w{i}@example.com"))[0] for i in range(3)]
    cred = await factory.partner([merchant], scopes=["rewards.issue", "sandbox"])
    campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
    endpoint = await add_endpoint(client, cred.headers(), merchant, receiver.url + "/hook?src=t")
    identifiers = [
        {"type": "email", "value": "w0@example.com"},
        {"type": "email", "value": "nobody@example.com"},
        {"type": "phone", "value": users[1].phone},
        {"type": "email", "value": "W2@example.com"},
        {"type": "email", "value": "w0@example.com"},
    ]
    job_id = await issue(client, cred, merchant, campaign, identifiers)
    await issuance_tasks.drain(database, issuance_worker())  # three chunks of two
    assert await tasks.drain(database, config()) == 4

    bodies = [json.loads(r.body) for r in receiver.received]
    issued = [b for b in bodies if b["event"] == "reward.issued"]
    assert sorted(b["data"]["identifier"]["index"] for b in issued) == [0, 2, 3]
    first = next(b for b in issued if b["data"]["identifier"]["index"] == 2)
    data = first["data"]
    assert list(first) == ["event", "timestamp", "data"]
    assert first["timestamp"].endswith("Z")
    assert data["identifier"] == {"type": "phone", "index": 2}
    assert data["issuance_job_id"] == job_id
    assert data["merchant_id"] == merchant.id
    assert data["user_id"] == users[1].id
    assert data["state"] == "active"
    c = campaign.campaign
    assert data["expires_at"] == c.redeemable_to.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["campaign"]["id"] == c.id
    assert data["campaign"]["objective"] == c.objective
    assert data["campaign"]["time_zone"] == c.time_zone
    assert data["campaign"]["variant"] == {
        "id": campaign.variants[0].id,
        "name": "Treatment",
        "reward_template_id": campaign.variants[0].reward_template_id,
    }
    reward_ids = {b["data"]["reward_id"] for b in issued}
    assert len(reward_ids) == 3
    (batch,) = [b for b in bodies if b["event"] == "reward_batch.completed"]
    assert batch["data"] == {
        "issuance_job_id": job_id,
        "merchant_id": merchant.id,
        "state": "completed",
        "total_count": 5,
        "issued_count": 3,
        "failed_count": 2,
        "failures": [
            {"user_identifier": "nobody@example.com", "reason": "User not found"},
            {"user_identifier": "w0@example.com", "reason": "Duplicate identifier"},
        ],
    }
    # Signed with the secret shown at creation; static query parameters kept; event headers.
    for request in receiver.received:
        assert request.path == "/hook?src=t"
        assert request.headers["content-type"] == "application/json"
        assert signing.verify_thanx_signature(
            endpoint["secret"], request.body, request.headers["x-thanx-signature"]
        )
        assert "webhook-signature" not in request.headers
    # The log: one successful attempt per delivery.
    log = await client.get(
        "/sandbox/webhook_attempts",
        params={"endpoint_id": endpoint["id"], "per_page": 100},
        headers=cred.headers(),
    )
    assert log.status_code == 200, log.text
    attempts = log.json()["webhook_attempts"]
    assert len(attempts) == 4
    assert {a["status_code"] for a in attempts} == {200}
    assert all(a["response_excerpt"] == "ok" and a["error"] is None for a in attempts)
    assert await count(session, WebhookDelivery, WebhookDelivery.state == "delivered") == 4


async def test_events_are_written_even_without_endpoints_and_queue_nothing(
    client: httpx.AsyncClient, factory: Factory, database: Database, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    await factory.member(merchant, email="solo@example.com")
    cred = await factory.partner([merchant], scopes=["rewards.issue"])
    campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
    await issue(client, cred, merchant, campaign, [{"type": "email", "value": "solo@example.com"}])
    await issuance_tasks.drain(database, issuance_worker())
    # The job wrote one outbox row per emit (its chunk's rewards, its completion), no events yet.
    assert await count(session, WebhookOutbox) == 2
    assert await count(session, WebhookEvent) == 0
    assert await tasks.dispatch(database) == 2
    types = list(
        await session.scalars(
            select(WebhookEvent.type).where(WebhookEvent.merchant_id == merchant.id)
        )
    )
    assert sorted(types) == ["reward.issued", "reward_batch.completed"]
    assert await count(session, WebhookOutbox) == 0
    assert await count(session, WebhookDelivery) == 0


async def test_a_dispatch_that_fails_leaves_its_rows_for_the_next_with_the_same_ids(
    factory: Factory, database: Database, session: AsyncSession, receiver: Receiver
) -> None:
    """Expansion into events and fan-out are one transaction with the outbox rows' removal: a
    dispatch that fails half way (here an event id already taken, the insert of the second
    row's events fails after the first row's were written) leaves every row in the outbox and
    no event, and the next dispatch expands them with the ids chosen when they were written."""
    merchant = await factory.merchant()
    await subscribe(session, merchant.id, receiver.url)
    now = clock.business_now()
    for n, ids in enumerate((["first0", "first1"], ["second0", "second1", "second2"])):
        await outbox.emit(
            session,
            merchant_id=merchant.id,
            type=EventType.SMS_SUBSCRIPTION,
            rows=[(i, None, f'{{"n":"{i}"}}') for i in ids],
            now=now + timedelta(microseconds=n),
        )
    blocker = await factory.merchant()
    session.add(WebhookEvent(id="second1", merchant_id=blocker.id, type="x", body="{}"))
    await session.flush()
    with pytest.raises(IntegrityError):
        await tasks.dispatch(database)
    assert await count(session, WebhookOutbox) == 2
    assert await count(session, WebhookEvent, WebhookEvent.merchant_id == merchant.id) == 0
    assert await count(session, WebhookDelivery) == 0
    await session.execute(delete(WebhookEvent).where(WebhookEvent.id == "second1"))
    assert await tasks.dispatch(database) == 5
    assert await count(session, WebhookOutbox) == 0
    assert await tasks.drain(database, config()) == 5
    arrived = sorted(r.headers["x-thanx-event-id"] for r in receiver.received)
    assert arrived == sorted(["first0", "first1", "second0", "second1", "second2"])


async def test_an_event_still_in_the_outbox_is_shown_but_not_yet_redelivered(
    client: httpx.AsyncClient, factory: Factory, database: Database, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    operator = await factory.operator()
    scope = MerchantScope.one(merchant.id)
    now = clock.business_now()
    for n, ids in enumerate((["other0", "wanted", "other1"], ["wanted2"])):
        await outbox.emit(
            session,
            merchant_id=merchant.id,
            type=EventType.SMS_SUBSCRIPTION,
            rows=[(i, f"subject-{i}", f'{{"n":"{i}"}}') for i in ids],
            now=now + timedelta(seconds=n),
        )
    event, body = await service.event_as_sent(session, scope, "wanted")
    assert (event.id, event.subject_id, body) == ("wanted", "subject-wanted", '{"n":"wanted"}')
    with pytest.raises(NotFound):
        await service.event_as_sent(session, scope, "wante")  # ids match whole, not a prefix
    with pytest.raises(NotFound):
        await service.event_as_sent(session, MerchantScope.one("elsewhere"), "wanted")
    path = "/sandbox/webhook_events/wanted/redeliver"
    early = await client.post(path, json={}, headers=operator.headers())
    assert_error(early, 422, "INVALID_STATE", "id")
    await tasks.dispatch(database)
    event, body = await service.event_as_sent(session, scope, "wanted")
    assert body == '{"n":"wanted"}'
    assert await count(session, WebhookOutbox) == 0


async def test_a_dispatch_takes_whole_outbox_rows_oldest_first(
    factory: Factory, database: Database, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    now = clock.business_now()
    for n in (2, 0, 1):  # written out of order: taken by creation time
        await emit_sms(
            session, merchant.id, [f"row{n}ev{i}" for i in range(3)], now=now + timedelta(seconds=n)
        )
    assert await count(session, WebhookOutbox) == 3
    assert await tasks.dispatch(database, limit=4) == 6  # rows of 3 are not split
    expanded = set(await session.scalars(select(WebhookEvent.id)))
    assert expanded == {f"row{n}ev{i}" for n in (0, 1) for i in range(3)}
    assert await tasks.dispatch(database, limit=4) == 3
    assert await tasks.dispatch(database, limit=4) == 0
    for n in range(7):  # one event a row (settings changes, purchases): ``limit`` rows a take
        await outbox.emit_one(
            session,
            merchant_id=merchant.id,
            type=EventType.SMS_SUBSCRIPTION,
            subject_id=None,
            body="{}",
            now=now + timedelta(seconds=10 + n),
        )
    assert await tasks.dispatch(database, limit=5) == 5
    assert await tasks.dispatch(database, limit=5) == 2


# --- the outbox: same transaction -----------------------------------------------------------


async def test_a_rolled_back_change_sends_nothing(
    client: httpx.AsyncClient,
    factory: Factory,
    session: AsyncSession,
    database: Database,
    receiver: Receiver,
) -> None:
    from thanx_server.auth.service import PartnerPrincipal
    from thanx_server.user import service as user_service

    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    operator = await factory.operator()
    await add_endpoint(client, operator.headers(), merchant, receiver.url)
    principal = PartnerPrincipal(
        credential_id="c",
        partner_id="p",
        client_id="x",
        scopes=frozenset(),
        merchant_ids=(merchant.id,),
    )

    nested = await session.begin_nested()
    await user_service.update_settings(
        session,
        principal,
        user_id=user.id,
        merchant_id=merchant.id,
        changes={"marketing_general_email": False},
    )
    assert await count(session, WebhookOutbox) == 1  # written inside the transaction...
    await nested.rollback()
    assert await count(session, WebhookOutbox) == 0  # ...and gone with the transaction
    assert await count(session, WebhookDelivery) == 0
    assert await tasks.drain(database, config()) == 0
    assert receiver.received == []


async def test_a_failed_request_sends_nothing_and_a_committed_one_sends_d4(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant])
    await add_endpoint(client, cred.headers(), merchant, receiver.url)
    path = f"/partner/users/{user.id}/communication_settings"
    bad = await client.patch(
        path,
        params={"merchant_id": merchant.id},
        json={"communication_setting": {"marketing_general": {"email": "nope"}}},
        headers=cred.headers(),
    )
    assert bad.status_code == 400
    same = await client.patch(
        path,
        params={"merchant_id": merchant.id},
        json={"communication_setting": {"marketing_general": {"email": True}}},
        headers=cred.headers(),
    )
    assert same.status_code == 200  # no change: no event
    assert await count(session, WebhookOutbox) == 0
    ok = await client.patch(
        path,
        params={"merchant_id": merchant.id},
        json={"communication_setting": {"reward_offer": {"email": False}}},
        headers=cred.headers(),
    )
    assert ok.status_code == 200, ok.text
    await tasks.drain(database, config())
    (request,) = receiver.received
    setting = ok.json()["communication_setting"]
    assert json.loads(request.body) == {
        "communication_setting": {
            "id": setting["id"],
            "merchant_id": merchant.id,
            "user_id": user.id,
            "reward_progress": {"email": True},
            "reward_offer": {"notification": True, "email": False},
            "marketing_general": {"email": True},
        }
    }


# --- purchases: ten minutes later on the business clock --------------------------------------


async def test_a_purchase_is_sent_ten_minutes_later(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    business = Clock(monkeypatch)
    merchant = await factory.merchant(name="Thanx Restaurant")
    location = await factory.location(merchant)
    user, _ = await factory.member(merchant, first_name="Thanx", last_name="Example")
    operator = await factory.operator()
    await add_endpoint(client, operator.headers(), merchant, receiver.url)
    recorded = await factory.purchase(merchant, user, amount="7.76", location=location)
    assert await tasks.drain(database, config()) == 0
    business.advance(timedelta(minutes=9, seconds=59))
    assert await tasks.drain(database, config()) == 0
    business.advance(timedelta(seconds=1))
    assert await tasks.drain(database, config()) == 1
    body = json.loads(receiver.received[0].body)["purchase"]
    assert list(body) == [
        "id",
        "amount",
        "purchased_at",
        "event",
        "user",
        "merchant",
        "location",
        "order",
        "products",
    ]
    assert body["id"] == recorded.purchase.id
    assert body["amount"] == "7.76"
    assert body["event"] == "create"
    assert body["purchased_at"].endswith(".000Z") or body["purchased_at"][-5] == "."
    assert body["user"] == {
        "id": user.id,
        "email": user.email,
        "first_name": "Thanx",
        "last_name": "Example",
    }
    assert body["merchant"] == {"id": merchant.id, "name": "Thanx Restaurant"}
    assert body["location"]["id"] == location.id
    assert body["location"]["time_zone"] == merchant.time_zone
    assert body["products"] == ["Pizza"]


# --- retry mode, on the business clock -------------------------------------------------------


async def test_retry_mode_follows_the_standard_schedule_and_retry_after(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    business = Clock(monkeypatch)
    replies = iter(
        [Reply(status=500), Reply(status=503, headers={"Retry-After": "900"}), Reply(status=200)]
    )
    receiver.respond = lambda _r: next(replies)
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    endpoint = await add_endpoint(
        client, operator.headers(), merchant, receiver.url, retry_mode=True
    )
    trigger = await client.post(
        "/sandbox/webhooks/trigger",
        json={"event": "sms_subscription.created", "merchant_id": merchant.id},
        headers=operator.headers(),
    )
    assert trigger.status_code == 202, trigger.text
    start = business.now

    async def next_attempt() -> datetime:
        value = await session.scalar(
            select(WebhookDelivery.next_attempt_at).where(
                WebhookDelivery.endpoint_id == endpoint["id"]
            )
        )
        assert value is not None
        return value

    assert await tasks.drain(database, config()) == 1  # immediately
    due = await next_attempt()
    assert timedelta(seconds=4.5) <= due - start <= timedelta(seconds=5.5)  # 5 s, jittered
    business.advance(timedelta(seconds=4))
    assert await tasks.drain(database, config()) == 0
    business.now = due
    assert await tasks.drain(database, config()) == 1  # second attempt: 503, Retry-After 900
    due = await next_attempt()
    assert due - business.now >= timedelta(seconds=900)  # longer than the schedule's 5 min
    business.now = due
    assert await tasks.drain(database, config()) == 1
    state = await session.scalar(
        select(WebhookDelivery.state).where(WebhookDelivery.endpoint_id == endpoint["id"])
    )
    assert state == "delivered"
    assert [r.headers["x-thanx-event-id"] for r in receiver.received] == [
        trigger.json()["event_id"]
    ] * 3


async def test_without_retry_mode_one_attempt_is_all(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    business = Clock(monkeypatch)
    receiver.respond = lambda _r: Reply(status=500, body=b"x" * 100_000)
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    await add_endpoint(client, operator.headers(), merchant, receiver.url)
    await client.post(
        "/sandbox/webhooks/trigger",
        json={"event": "communication_setting.updated", "merchant_id": merchant.id},
        headers=operator.headers(),
    )
    assert await tasks.drain(database, config()) == 1
    business.advance(timedelta(days=1))
    assert await tasks.drain(database, config()) == 0
    attempt = await session.scalar(select(WebhookAttempt))
    assert attempt is not None
    assert attempt.status_code == 500
    assert attempt.response_excerpt == "x" * sender.EXCERPT_BYTES  # capped
    assert await count(session, WebhookDelivery, WebhookDelivery.state == "failed") == 1


async def test_410_disables_a_retrying_endpoint(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    receiver.respond = lambda _r: Reply(status=410)
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    endpoint = await add_endpoint(
        client, operator.headers(), merchant, receiver.url, retry_mode=True
    )
    await client.post(
        "/sandbox/webhooks/trigger",
        json={"event": "sms_subscription.created", "merchant_id": merchant.id},
        headers=operator.headers(),
    )
    await tasks.drain(database, config())
    got = await client.get(
        f"/sandbox/webhook_endpoints/{endpoint['id']}", headers=operator.headers()
    )
    assert got.json()["webhook_endpoint"]["enabled"] is False
    assert "410" in got.json()["webhook_endpoint"]["disabled_reason"]
    assert await count(session, WebhookDelivery, WebhookDelivery.state == "failed") == 1


# --- slow receivers, crashes -----------------------------------------------------------------


async def test_a_slow_receiver_does_not_stall_the_others(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    receiver: Receiver,
) -> None:
    slow = await Receiver(respond=lambda _r: Reply(delay=30)).start()
    try:
        slow_merchant, fast_merchant = await factory.merchant(), await factory.merchant()
        operator = await factory.operator()
        await add_endpoint(client, operator.headers(), slow_merchant, slow.url)
        await add_endpoint(client, operator.headers(), fast_merchant, receiver.url)
        now = clock.business_now()
        for merchant in (slow_merchant, fast_merchant):  # the slow backlog is older
            await emit_sms(
                factory.session,
                merchant.id,
                [f"{merchant.id[:8]}ev{i:04d}" for i in range(20)],
                now=now,
            )
        async with sender.new_client(8) as http:
            deliverer = tasks.Deliverer(
                database, config(slots=8, per_endpoint=4, timeout=5.0), http
            )
            started = time.perf_counter()
            while len(receiver.received) < 20 and time.perf_counter() - started < 20:
                await deliverer.claim()
                await deliverer.wait(0.05)
                await deliverer.flush()
            fast_done = time.perf_counter() - started
            await deliverer.shutdown()
        assert len(receiver.received) == 20
        # The fast receiver's 20 were all sent while the slow receiver still held its 4 slots
        # (none of them had reached the 5 s timeout yet): it never waited for a slow slot.
        assert fast_done < 5.0, fast_done
    finally:
        await slow.close()


async def test_a_dead_workers_deliveries_are_sent_again_with_the_same_event_id(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    await add_endpoint(client, operator.headers(), merchant, receiver.url)
    for _ in range(3):
        await client.post(
            "/sandbox/webhooks/trigger",
            json={"event": "sms_subscription.created", "merchant_id": merchant.id},
            headers=operator.headers(),
        )
    # Worker A claims and sends, then "dies" before recording anything.
    async with sender.new_client(4) as http:
        dead = tasks.Deliverer(database, config(owner="dead"), http)
        assert await dead.claim() == 3
        while dead.inflight:
            await dead.wait(0.05)
    assert len(receiver.received) == 3
    assert await tasks.drain(database, config(owner="b")) == 0  # leased to the dead worker
    await session.execute(update(WebhookDelivery).values(lease_expires_at=utcnow()))
    assert await tasks.drain(database, config(owner="b")) == 3
    ids = [r.headers["x-thanx-event-id"] for r in receiver.received]
    assert sorted(ids[:3]) == sorted(ids[3:])
    assert len(set(ids)) == 3


async def test_a_dead_workers_claims_are_free_again_within_two_minutes(
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    """With the default settings (15 s timeout, 1,000 slots, 32 per endpoint) a worker holds up
    to 500 deliveries of one endpoint; their leases no longer cover all 16 rounds of them (that
    was 8 minutes for a killed worker's claims) but two timeouts and a margin, renewed while the
    worker lives."""
    merchant = await factory.merchant()
    await subscribe(session, merchant.id, receiver.url)
    await emit_sms(session, merchant.id, [f"held{i:03d}" for i in range(40)])
    defaults = Settings()
    async with sender.new_client(4) as http:
        dead = tasks.Deliverer(database, tasks.DeliveryConfig.from_settings(defaults, "dead"), http)
        before = utcnow()
        assert await dead.claim() == 40
        while dead.inflight:  # sent, then the worker "dies" before recording anything
            await dead.wait(0.05)
    leases = list(await session.scalars(select(WebhookDelivery.lease_expires_at)))
    assert len(leases) == 40
    assert all(lease < before + timedelta(minutes=2) for lease in leases)


async def test_a_live_worker_keeps_its_claims_past_one_lease_by_renewing_them(
    factory: Factory,
    database: Database,
    session: AsyncSession,
) -> None:
    """A worker sending one at a time to a slow receiver holds its queued claims longer than one
    lease (7 sends of 1.5 s against a 9 s lease): it renews them, so another worker claiming all
    along gets none of them and each event is sent once."""
    receiver = await Receiver(respond=lambda _r: Reply(delay=1.5)).start()
    try:
        merchant = await factory.merchant()
        await subscribe(session, merchant.id, receiver.url)
        await emit_sms(session, merchant.id, [f"slow{i}" for i in range(7)])
        slow = config(owner="slow", timeout=2.0, per_endpoint=1)
        assert slow.lease == timedelta(seconds=9)
        async with sender.new_client(4) as http, sender.new_client(4) as other_http:
            holder = tasks.Deliverer(database, slow, http)
            other = tasks.Deliverer(database, config(owner="other", timeout=2.0), other_http)
            assert await holder.claim() == 7
            started = time.monotonic()
            while holder.inflight or holder.done:
                await holder.claim()
                await holder.wait(0.2)
                assert await other.claim() == 0
            await holder.flush()
            waited = time.monotonic() - started
        assert waited > slow.lease.total_seconds()  # the test held the claims past one lease
        arrived = [r.headers["x-thanx-event-id"] for r in receiver.received]
        assert sorted(arrived) == [f"slow{i}" for i in range(7)]
        assert await count(session, WebhookDelivery, WebhookDelivery.state == "delivered") == 7
    finally:
        await receiver.close()


# --- endpoints over /sandbox -----------------------------------------------------------------


async def test_the_secret_is_shown_once_and_rotation_signs_with_both(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    receiver: Receiver,
) -> None:
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    created = await add_endpoint(
        client, operator.headers(), merchant, receiver.url, standard_headers=True
    )
    old = created["secret"]
    assert old.startswith("whsec_")
    got = await client.get(
        f"/sandbox/webhook_endpoints/{created['id']}", headers=operator.headers()
    )
    assert got.json()["webhook_endpoint"]["secret"] is None
    listed = await client.get("/sandbox/webhook_endpoints", headers=operator.headers())
    assert old not in listed.text
    rotated = await client.post(
        f"/sandbox/webhook_endpoints/{created['id']}/rotate_secret",
        json={"grace_seconds": 3600},
        headers=operator.headers(),
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["webhook_endpoint"]["secret"]
    assert new != old
    await client.post(
        "/sandbox/webhooks/trigger",
        json={"event": "communication_setting.updated", "merchant_id": merchant.id},
        headers=operator.headers(),
    )
    await tasks.drain(database, config())
    (request,) = receiver.received
    assert signing.verify_thanx_signature(new, request.body, request.headers["x-thanx-signature"])
    assert signing.verify_thanx_signature(
        old, request.body, request.headers["x-thanx-signature-previous"]
    )
    msg_id, ts = request.headers["webhook-id"], int(request.headers["webhook-timestamp"])
    assert request.headers["webhook-signature"].split(" ") == [
        signing.standard_signature(new, msg_id, ts, request.body),
        signing.standard_signature(old, msg_id, ts, request.body),
    ]


@pytest.mark.parametrize(
    ("url", "production", "ok"),
    [
        ("http://localhost:9000/hook", False, True),
        ("http://127.0.0.1:9000/hook", False, True),
        ("ftp://example.com/hook", False, False),
        ("http://user:pw@example.com/hook", False, False),
        ("http://93.184.215.14/hook", True, False),
        ("https://127.0.0.1/hook", True, False),
        ("https://10.1.2.3/hook", True, False),
        ("https://169.254.169.254/latest", True, False),
        ("https://[::1]/hook", True, False),
        ("https://localhost/hook", True, False),
        ("https://93.184.215.14/hook", True, True),
    ],
)
async def test_url_rules_by_environment(
    factory: Factory, session: AsyncSession, url: str, production: bool, ok: bool
) -> None:
    from thanx_server.kit.errors import ValidationFailed

    merchant = await factory.merchant()
    policy = service.UrlPolicy(production=production, allow_private=False)
    if ok:
        await service.create_endpoint(
            session, MerchantScope.one(merchant.id), merchant_id=merchant.id, url=url, policy=policy
        )
    else:
        with pytest.raises(ValidationFailed, match=r"webhook_endpoint\.url"):
            await service.create_endpoint(
                session,
                MerchantScope.one(merchant.id),
                merchant_id=merchant.id,
                url=url,
                policy=policy,
            )


async def test_an_operator_may_allow_private_addresses_in_production(
    factory: Factory, session: AsyncSession
) -> None:

    merchant = await factory.merchant()
    await service.create_endpoint(
        session,
        MerchantScope.one(merchant.id),
        merchant_id=merchant.id,
        url="https://10.0.0.5/hook",
        policy=service.UrlPolicy(production=True, allow_private=True),
    )


class Dns:
    """A resolver the test controls: host -> addresses, changed at will (DNS rebinding)."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {host.replace("_", "."): a for host, a in answers.items()}
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host}: name not known")
        return self.answers[host]


async def test_a_name_rebound_to_a_private_address_is_refused_when_delivering(
    factory: Factory, session: AsyncSession, database: Database, receiver: Receiver
) -> None:
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.webhook import safety, service

    dns = Dns(hooks_example_test=["93.184.215.14"])
    merchant = await factory.merchant()
    await service.create_endpoint(
        session,
        MerchantScope.one(merchant.id),
        merchant_id=merchant.id,
        url="https://hooks.example.test/hook",
        policy=service.UrlPolicy(production=True, allow_private=False, resolve=dns.resolve),
    )
    assert dns.asked == ["hooks.example.test"]  # public at registration: accepted
    dns.answers["hooks.example.test"] = ["127.0.0.1", "10.0.0.7"]  # ... private later
    await emit_sms(session, merchant.id, ["rebound0001"])
    guard = safety.ConnectGuard(resolve=dns.resolve)
    async with sender.new_client(4, guard=guard.addresses) as http:
        assert await tasks.drain(database, config(), http) == 1
    assert dns.asked[-1] == "hooks.example.test"  # asked again at connect time
    attempt = await session.scalar(select(WebhookAttempt))
    assert attempt is not None
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("refused: 'hooks.example.test' resolves to a private")
    assert "127.0.0.1, 10.0.0.7" in attempt.error
    assert await count(session, WebhookDelivery, WebhookDelivery.state == "failed") == 1
    assert receiver.received == []


async def test_the_connect_guard_keeps_only_public_addresses() -> None:
    from thanx_server.webhook import safety

    dns = Dns(mixed_example_test=["10.0.0.7", "93.184.215.14"], lan_example_test=["192.168.1.2"])
    guard = safety.ConnectGuard(resolve=dns.resolve)
    assert await guard.addresses("mixed.example.test", 443) == ["93.184.215.14"]
    assert await guard.addresses("93.184.215.14", 443) == ["93.184.215.14"]
    with pytest.raises(http1.HttpError, match=r"refused: 'lan\.example\.test'"):
        await guard.addresses("lan.example.test", 443)
    with pytest.raises(http1.HttpError, match=r"refused: '169\.254\.169\.254'"):
        await guard.addresses("169.254.169.254", 80)
    with pytest.raises(http1.HttpError, match="does not resolve"):
        await guard.addresses("gone.example.test", 443)


async def test_a_connection_goes_to_the_checked_address_not_a_new_lookup(
    receiver: Receiver,
) -> None:
    """The pool connects to the address its hook returned (the name is never resolved again),
    and the request still names the host."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
    dns = Dns(hooks_example_test=["127.0.0.1"])
    async with sender.new_client(2, guard=dns.resolve) as http:
        result = await sender.post(
            http, f"http://hooks.example.test:{port}/hook", body=b"{}", headers={}
        )
    assert result.status_code == 200, result
    assert receiver.received[0].headers["host"] == f"hooks.example.test:{port}"
    assert dns.asked == ["hooks.example.test"]


async def test_production_workers_check_addresses_at_connect_unless_private_is_allowed(
    settings: Settings,
) -> None:
    sandbox = settings
    production = settings.model_copy(update={"environment": Environment.PRODUCTION})
    allowed = production.model_copy(update={"webhook_allow_private_addresses": True})
    assert not tasks.DeliveryConfig.from_settings(sandbox).check_addresses
    assert tasks.DeliveryConfig.from_settings(production).check_addresses
    assert not tasks.DeliveryConfig.from_settings(allowed).check_addresses
    assert tasks.DeliveryConfig.from_settings(production).new_client().addresses is not None
    assert tasks.DeliveryConfig.from_settings(sandbox).new_client().addresses is None


async def test_bad_endpoint_input_is_a_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    operator = await factory.operator()
    cases = [
        ({"url": "notaurl"}, "webhook_endpoint.url"),
        ({"url": "http://x.test", "event_types": ["reward.eaten"]}, "event_types"),
        ({"url": "http://x.test", "headers": {"X-Thanx-Signature": "x"}}, "headers"),
        ({"url": "http://x.test", "secret": "short"}, "secret"),
        ({"url": "http://x.test", "fault": "explode"}, "fault"),
    ]
    for fields, name in cases:
        response = await client.post(
            "/sandbox/webhook_endpoints",
            json={"webhook_endpoint": {"merchant_id": merchant.id, **fields}},
            headers=operator.headers(),
        )
        assert_error(response, 400, "VALIDATION_FAILED", name)
    assert await count(session, WebhookEndpoint) == 0


async def test_a_partner_manages_only_its_own_merchants_endpoints(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine, other = await factory.merchant(), await factory.merchant()
    partner = await factory.partner([mine], scopes=["sandbox"])
    operator = await factory.operator()
    theirs = await add_endpoint(client, operator.headers(), other, "http://localhost:1/x")
    response = await client.post(
        "/sandbox/webhook_endpoints",
        json={"webhook_endpoint": {"merchant_id": other.id, "url": "http://localhost:1/x"}},
        headers=partner.headers(),
    )
    assert_error(response, 403, "FORBIDDEN", "merchant_id")
    got = await client.get(f"/sandbox/webhook_endpoints/{theirs['id']}", headers=partner.headers())
    assert_error(got, 404, "RESOURCE_NOT_FOUND")
    listed = await client.get("/sandbox/webhook_endpoints", headers=partner.headers())
    assert listed.json()["webhook_endpoints"] == []


async def test_update_disable_and_delete_an_endpoint(
    client: httpx.AsyncClient, factory: Factory, database: Database, receiver: Receiver
) -> None:
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    endpoint = await add_endpoint(client, operator.headers(), merchant, receiver.url)
    path = f"/sandbox/webhook_endpoints/{endpoint['id']}"
    patched = await client.patch(
        path,
        json={
            "webhook_endpoint": {
                "event_types": ["purchase.created"],
                "headers": {"X-Partner": "acme"},
            }
        },
        headers=operator.headers(),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["webhook_endpoint"]["event_types"] == ["purchase.created"]
    trigger = {"event": "sms_subscription.created", "merchant_id": merchant.id}
    sent = await client.post("/sandbox/webhooks/trigger", json=trigger, headers=operator.headers())
    assert sent.json()["deliveries"] == 0  # filtered out
    await client.patch(
        path,
        json={"webhook_endpoint": {"event_types": [], "enabled": False}},
        headers=operator.headers(),
    )
    sent = await client.post("/sandbox/webhooks/trigger", json=trigger, headers=operator.headers())
    assert sent.json()["deliveries"] == 0  # disabled
    await client.patch(
        path, json={"webhook_endpoint": {"enabled": True}}, headers=operator.headers()
    )
    sent = await client.post("/sandbox/webhooks/trigger", json=trigger, headers=operator.headers())
    assert sent.json()["deliveries"] == 1
    await tasks.drain(database, config())
    assert receiver.received[0].headers["x-partner"] == "acme"
    deleted = await client.delete(path, headers=operator.headers())
    assert deleted.status_code == 204
    gone = await client.get(path, headers=operator.headers())
    assert_error(gone, 404, "RESOURCE_NOT_FOUND")


# --- redeliver, recover, trigger -------------------------------------------------------------


async def test_redeliver_and_recover_send_the_same_events_again(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    business = Clock(monkeypatch)
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    endpoint = await add_endpoint(client, operator.headers(), merchant, receiver.url)
    trigger = {"event": "sms_subscription.created", "merchant_id": merchant.id}
    first = (
        await client.post("/sandbox/webhooks/trigger", json=trigger, headers=operator.headers())
    ).json()
    business.advance(timedelta(hours=1))
    second = (
        await client.post("/sandbox/webhooks/trigger", json=trigger, headers=operator.headers())
    ).json()
    await tasks.drain(database, config())
    assert len(receiver.received) == 2
    again = await client.post(
        f"/sandbox/webhook_events/{first['event_id']}/redeliver",
        json={},
        headers=operator.headers(),
    )
    assert again.status_code == 202, again.text
    await tasks.drain(database, config())
    assert receiver.received[2].headers["x-thanx-event-id"] == first["event_id"]
    assert receiver.received[2].body == receiver.received[0].body
    since = (business.now - timedelta(minutes=30)).isoformat()
    until = (business.now + timedelta(minutes=1)).isoformat()
    recovered = await client.post(
        f"/sandbox/webhook_endpoints/{endpoint['id']}/recover",
        json={"since": since, "until": until},
        headers=operator.headers(),
    )
    assert recovered.status_code == 202, recovered.text
    assert recovered.json()["queued"] == 1
    await tasks.drain(database, config())
    assert receiver.received[3].headers["x-thanx-event-id"] == second["event_id"]
    bad = await client.post(
        f"/sandbox/webhook_endpoints/{endpoint['id']}/recover",
        json={"since": until, "until": since},
        headers=operator.headers(),
    )
    assert_error(bad, 400, "VALIDATION_FAILED", "until")
    missing = await client.post(
        "/sandbox/webhook_events/nosuchevent/redeliver", json={}, headers=operator.headers()
    )
    assert_error(missing, 404, "RESOURCE_NOT_FOUND")


async def test_the_trigger_builds_each_event_from_real_state(
    client: httpx.AsyncClient, factory: Factory, database: Database, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant, email="t@example.com")
    cred = await factory.partner([merchant], scopes=["rewards.issue", "sandbox"])
    campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
    await factory.purchase(merchant, user, amount="12.50")
    job_id = await issue(
        client, cred, merchant, campaign, [{"type": "email", "value": "t@example.com"}]
    )
    await issuance_tasks.drain(database, issuance_worker())

    async def trigger(event: str, **kw: Any) -> dict[str, Any]:
        response = await client.post(
            "/sandbox/webhooks/trigger",
            json={"event": event, "merchant_id": merchant.id, **kw},
            headers=cred.headers(),
        )
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()["body"]
        return body

    issued = await trigger("reward.issued", overrides={"state": "delivered"})
    assert issued["event"] == "reward.issued"
    assert issued["data"]["user_id"] == user.id
    assert issued["data"]["state"] == "delivered"
    assert issued["data"]["identifier"] == {"type": "email", "index": 0}
    # The reward came from that job: its event names the job (reference D.2).
    assert issued["data"]["issuance_job_id"] == job_id
    batch = await trigger("reward_batch.completed")
    assert batch["data"]["issued_count"] == 1
    assert batch["data"]["issuance_job_id"] == job_id
    assert (await trigger("purchase.created"))["purchase"]["amount"] == "12.50"
    sms = await trigger("sms_subscription.created", subject_id=user.id)
    assert sms == {
        "sms_subscription": {
            "user_id": user.id,
            "merchant_id": merchant.id,
            "phone": user.phone,
            "email": user.email,
        }
    }
    settings = await trigger("communication_setting.updated", subject_id=user.id)
    assert settings["communication_setting"]["marketing_general"] == {"email": True}
    missing = await client.post(
        "/sandbox/webhooks/trigger",
        json={"event": "purchase.created", "merchant_id": merchant.id, "subject_id": "nope"},
        headers=cred.headers(),
    )
    assert_error(missing, 404, "RESOURCE_NOT_FOUND", "subject_id")
    unknown = await client.post(
        "/sandbox/webhooks/trigger", json={"event": "nope"}, headers=cred.headers()
    )
    assert_error(unknown, 400, "VALIDATION_FAILED", "event")


async def test_delivery_faults_drop_and_duplicate(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    endpoint = await add_endpoint(client, operator.headers(), merchant, receiver.url, fault="drop")
    trigger = {"event": "sms_subscription.created", "merchant_id": merchant.id}
    await client.post("/sandbox/webhooks/trigger", json=trigger, headers=operator.headers())
    await tasks.drain(database, config())
    assert receiver.received == []
    attempt = await session.scalar(select(WebhookAttempt))
    assert attempt is not None
    assert attempt.error is not None
    assert "drop" in attempt.error
    await client.patch(
        f"/sandbox/webhook_endpoints/{endpoint['id']}",
        json={"webhook_endpoint": {"fault": "duplicate"}},
        headers=operator.headers(),
    )
    await client.post("/sandbox/webhooks/trigger", json=trigger, headers=operator.headers())
    await tasks.drain(database, config())
    assert len(receiver.received) == 2
    assert receiver.received[0].body == receiver.received[1].body


async def test_the_delay_fault_holds_each_delivery_back(
    factory: Factory,
    session: AsyncSession,
    database: Database,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    monkeypatch.setattr(tasks, "FAULT_DELAY", timedelta(seconds=0.4))
    merchant = await factory.merchant()
    await subscribe(session, merchant.id, receiver.url, fault="delay")
    await emit_sms(session, merchant.id, [f"delayed{i:04d}" for i in range(3)])
    started = time.perf_counter()
    assert await tasks.drain(database, config()) == 3
    assert time.perf_counter() - started >= 0.4  # none went out before the delay
    assert sorted(r.headers["x-thanx-event-id"] for r in receiver.received) == [
        "delayed0000",
        "delayed0001",
        "delayed0002",
    ]
    assert await count(session, WebhookDelivery, WebhookDelivery.state == "delivered") == 3


@pytest.mark.parametrize("fault", [None, "reorder"])
async def test_the_reorder_fault_shuffles_what_is_otherwise_sent_in_due_order(
    factory: Factory,
    session: AsyncSession,
    database: Database,
    receiver: Receiver,
    fault: str | None,
) -> None:
    """One send at a time to the endpoint, so arrival order is send order: in due order
    without the fault (the control), shuffled with it; every event arrives either way."""

    merchant = await factory.merchant()
    await subscribe(session, merchant.id, receiver.url, fault=fault)
    await emit_sms(session, merchant.id, [f"ordered{i:04d}" for i in range(24)])
    await tasks.dispatch(database)
    due_order = list(
        await session.scalars(
            select(WebhookDelivery.event_id).order_by(
                WebhookDelivery.next_attempt_at, WebhookDelivery.id
            )
        )
    )
    assert await tasks.drain(database, config(slots=48, per_endpoint=1)) == 24
    arrived = [r.headers["x-thanx-event-id"] for r in receiver.received]
    assert sorted(arrived) == sorted(due_order)
    if fault is None:
        assert arrived == due_order
    else:
        assert arrived != due_order  # 24 shuffled: the same order by chance is ~1 in 10^23


async def test_the_log_is_kept_for_its_retention_then_purged(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    business = Clock(monkeypatch)
    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    await add_endpoint(client, operator.headers(), merchant, receiver.url)
    await client.post(
        "/sandbox/webhooks/trigger",
        json={"event": "sms_subscription.created", "merchant_id": merchant.id},
        headers=operator.headers(),
    )
    await tasks.drain(database, config())
    business.advance(timedelta(days=29))
    assert await tasks.purge(database, timedelta(days=30)) == (0, 0, 0)
    assert await count(session, WebhookAttempt) == 1
    business.advance(timedelta(days=2))
    assert await tasks.purge(database, timedelta(days=30)) == (1, 1, 0)
    assert await count(session, WebhookAttempt) == 0
    assert await count(session, WebhookEvent) == 0


async def test_frames_no_event_uses_are_purged_after_the_retention(
    factory: Factory, session: AsyncSession, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk's frame goes once the retention has passed and nothing uses it; a frame that an
    outbox row (or a kept event) still needs stays, and so does a recent one."""
    business = Clock(monkeypatch)
    merchant = await factory.merchant()
    old = business.now
    unused = await repository.insert_frame(session, prefix="[", suffix="]", now=old)
    pending = await repository.insert_frame(session, prefix="[", suffix="]", now=old)
    await outbox.emit(
        session,
        merchant_id=merchant.id,
        type=EventType.REWARD_ISSUED,
        rows=[("framed0001", None, "{}")],
        now=old,
        frame_id=pending,
    )
    business.advance(timedelta(days=31))
    recent = await repository.insert_frame(session, prefix="[", suffix="]", now=business.now)
    await session.flush()

    assert await tasks.purge(database, timedelta(days=30)) == (0, 0, 1)

    kept = set((await session.scalars(select(WebhookEventFrame.id))).all())
    assert kept == {pending, recent}, unused


async def test_an_sms_opt_in_sends_d5_once(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    session: AsyncSession,
    receiver: Receiver,
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant, email="sms@example.com", phone="+14155550199")
    partner = await factory.partner([merchant], scopes=["sandbox"])
    await add_endpoint(client, partner.headers(), merchant, receiver.url)
    path = f"/sandbox/users/{user.id}/sms_subscription"
    first = await client.post(path, json={}, headers=partner.headers())
    assert first.status_code == 200, first.text
    assert first.json()["sms_subscription"]["phone"] == "+14155550199"
    again = await client.post(path, json={}, headers=partner.headers())
    assert again.json() == first.json()
    await tasks.drain(database, config())
    (request,) = receiver.received
    assert request.body == (
        b'{"sms_subscription":{"user_id":"%s","merchant_id":"%s","phone":"+14155550199",'
        b'"email":"sms@example.com"}}' % (user.id.encode(), merchant.id.encode())
    )
    assert request.headers["x-thanx-event"] == "sms_subscription.created"
    stranger = await client.post(
        "/sandbox/users/nosuchuser/sms_subscription", json={}, headers=partner.headers()
    )
    assert_error(stranger, 404, "RESOURCE_NOT_FOUND")
    nophone, _ = await factory.member(merchant, phone=None)
    refused = await client.post(
        f"/sandbox/users/{nophone.id}/sms_subscription", json={}, headers=partner.headers()
    )
    assert_error(refused, 422, "INVALID_STATE", "phone")
    assert await count(session, WebhookEvent) == 1


# A self-signed certificate for 127.0.0.1 made for this test only (its key protects nothing).
DATA = Path(__file__).resolve().parent / "tls"


async def test_https_delivery_verifies_the_receivers_certificate() -> None:
    """The TLS path of the sender: a trusted certificate delivers, an untrusted one fails the
    attempt (with the error in the log), never silently."""
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(DATA / "webhook-tls-cert.pem", DATA / "webhook-tls-key.pem")
    receiver = await Receiver(tls=server_tls).start()
    try:
        trusting = ssl.create_default_context(cafile=str(DATA / "webhook-tls-cert.pem"))
        async with http1.Pool(ssl_context=trusting) as pool:
            result = await sender.post(pool, receiver.url + "/hook", body=b"{}", headers={})
        assert result.status_code == 200, result.error
        assert receiver.received[0].body == b"{}"
        async with http1.Pool() as pool:  # the system's trust store: a self-signed cert fails
            refused = await sender.post(pool, receiver.url + "/hook", body=b"{}", headers={})
        assert refused.status_code is None
        assert refused.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in refused.error or "SSL" in refused.error
        assert len(receiver.received) == 1
    finally:
        await receiver.close()


async def test_the_delivery_worker_runs_each_round_on_the_sandbox_clock(
    database: Database, settings: Settings
) -> None:
    """Outside the stand-in above: the worker reads the instance's clock from the database, so a
    purchase due "ten minutes later" goes out once a partner has advanced the sandbox clock."""
    sandbox = DeliveryWorker(database, settings)
    assert (await sandbox.current_clock()).is_real
    await clock_service.advance(database, settings, by=timedelta(days=2))
    moved = (await sandbox.current_clock()).now() - utcnow()
    assert timedelta(days=1, hours=23) < moved <= timedelta(days=2)
    production = settings.model_copy(update={"environment": Environment.PRODUCTION})
    assert await DeliveryWorker(database, production).current_clock() is clock.REAL


async def test_a_delivery_due_later_goes_out_promptly_once_the_sandbox_clock_passes_it(
    committed: Database, settings: Settings, receiver: Receiver
) -> None:
    """The running worker reads the sandbox clock every round (its idle wait is the poll
    interval, a quarter second): advancing the clock past a purchase's 10-minute delay sends it
    within moments, not at the next long poll and not 10 real minutes later. On a committed
    database: the worker's rounds and the advance each take a connection of their own."""
    from thanx_server.merchant import service as merchant_service
    from thanx_server.webhook import worker

    async with committed.write_sessions() as session, session.begin():
        merchant = await merchant_service.create_merchant(
            session, name="Later", handle="later", time_zone="UTC"
        )
        await subscribe(session, merchant.id, receiver.url)
        now = clock.business_now()
        await outbox.emit(
            session,
            merchant_id=merchant.id,
            type=EventType.PURCHASE,
            rows=[("later00001", None, "{}")],
            now=now,
            deliver_after=now + timedelta(minutes=10),
        )
    async with worker.running(committed, settings):
        await asyncio.sleep(4 * settings.webhook_poll_interval)
        assert receiver.received == []  # not due on the clock yet
        await clock_service.advance(committed, settings, by=timedelta(minutes=11))

        async def arrived() -> bool:
            return bool(receiver.received)

        # Seconds at most (generous for a loaded machine), not the 10 real minutes the
        # delay would take without the sandbox clock: no timing is asserted beyond that.
        await wait_for(arrived, within=30, interval=0.02)
    assert [r.headers["x-thanx-event-id"] for r in receiver.received] == ["later00001"]


async def test_listen_registers_over_the_api_verifies_forwards_and_removes_its_endpoints(
    app: Any,
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    receiver: Receiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``listen``'s own loop, in process: it registers its receiver over the sandbox API (here
    the app in process instead of a ``serve`` process: tests/test_webhook_cli.py has that one),
    the delivery worker sends to it, it verifies the signature with its stable secret, forwards
    the exact body and signature headers to the app, and removes its endpoints on the way out."""
    from thanx_server.cli import listen

    # The test's one database connection takes one task at a time: the listener's clean-up
    # (its second API client) waits until the test's delivery worker has recorded its round.
    drained = asyncio.Event()
    opened: list[int] = []

    class GatedClient(httpx.AsyncClient):
        async def __aenter__(self) -> GatedClient:
            opened.append(1)
            if len(opened) > 1:
                await drained.wait()
            return await super().__aenter__()

    class InProcessApi(listen.SandboxApi):
        def client(self) -> Any:
            return GatedClient(
                transport=httpx.ASGITransport(app=app), base_url=self.base_url,
                headers=partner.headers(),
            )  # fmt: skip

    merchant = await factory.merchant()
    await factory.member(merchant)
    operator = await factory.operator()
    # A partner's credential with the sandbox scope, as a partner developer runs it.
    partner = await factory.partner([merchant], scopes=["sandbox"])
    api = InProcessApi("http://sandbox", client_id=partner.client_id, access_token="unused")
    secret = listen.stable_secret(tmp_path)
    assert listen.stable_secret(tmp_path) == secret  # kept across starts
    running = asyncio.create_task(
        listen._listen(
            api,
            secret=secret,
            secret_path=tmp_path / listen.SECRET_FILE,
            forward_to=receiver.url,
            merchants=[merchant.id],
            host="127.0.0.1",
            port=0,
            public_url=None,
            max_events=2,
            print_json=True,
        )
    )
    loop = asyncio.get_running_loop()
    printed: list[str] = []

    async def registered() -> list[dict[str, Any]]:
        answer = await client.get("/sandbox/webhook_endpoints", headers=partner.headers())
        assert answer.status_code == 200, answer.text
        found = answer.json()["webhook_endpoints"]
        return [e for e in found if e["description"] == listen.DESCRIPTION]

    async def banner() -> bool:
        # The test's one database connection is not shared between tasks: wait for the
        # listener's banner (registration done) before the test calls the API itself.
        printed.append(capsys.readouterr().out)
        return "listening on http://127.0.0.1:" in "".join(printed)

    try:
        await wait_for(banner, within=20, interval=0.02)
        assert [e["merchant_id"] for e in await registered()] == [merchant.id]
        for _ in range(2):
            response = await client.post(
                "/sandbox/webhooks/trigger",
                json={"event": "sms_subscription.created", "merchant_id": merchant.id},
                headers=operator.headers(),
            )
            assert response.status_code in (200, 201, 202), response.text
        assert await tasks.drain(database, config()) == 2
        drained.set()
        await asyncio.wait_for(running, 30)
        assert await registered() == []  # removed on the way out
    finally:
        running.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    assert len(receiver.received) == 2
    for got in receiver.received:
        assert signing.verify_thanx_signature(secret, got.body, got.headers["x-thanx-signature"])
        assert got.headers["x-thanx-event"] == "sms_subscription.created"
    out = "".join(printed) + capsys.readouterr().out
    assert out.count("signature ok") == 2, out
    assert f"-> {receiver.url} 200" in out
    assert "stopped after 2 event(s); endpoints removed" in out
