"""POST /purchases (and /partner/purchases): points, the feedback opportunity, validation."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.app import create_app
from thanx_server.domain.amounts import BALANCE_MAX
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.time import isoformat_z, utcnow
from thanx_server.models import (
    Feedback,
    Location,
    Membership,
    Merchant,
    Purchase,
    User,
    WebhookOutbox,
)
from thanx_server.settings import Settings


@pytest.fixture
async def merchant(factory: Factory) -> Merchant:
    return await factory.merchant()


@pytest.fixture
async def location(factory: Factory, merchant: Merchant) -> Location:
    return await factory.location(merchant)


@pytest.fixture
async def member(factory: Factory, merchant: Merchant) -> User:
    return (await factory.member(merchant))[0]


@pytest.fixture
async def cred(factory: Factory, merchant: Merchant) -> Credential:
    return await factory.partner(
        [merchant], scopes=["purchases.write", "users.read", "feedbacks.read"]
    )


def body(merchant: Merchant, user: User, **fields: Any) -> dict[str, Any]:
    purchase = {
        "merchant_id": merchant.id,
        "user_id": user.id,
        "amount": 13.45,
        "purchased_at": "2026-01-15T00:52:10.655+00:00",
        "products": ["Margherita", "Soda"],
        "card_id": None,
        **fields,
    }
    return {"purchase": {k: v for k, v in purchase.items() if v is not ...}}


async def points_of(client: httpx.AsyncClient, cred: Credential, user: User) -> float:
    response = await client.get(f"/partner/users/{user.id}", headers=cred.headers())
    points: float = response.json()["user"]["loyalty"]["points_balance"]
    return points


async def count(session: AsyncSession, model: type[Purchase] | type[Feedback]) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize("path", ["/purchases", "/partner/purchases"])
async def test_a_purchase_is_recorded_earns_points_and_opens_feedback(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    member: User,
    location: Location,
    path: str,
) -> None:
    response = await client.post(
        path, json=body(merchant, member, location_id=location.id), headers=cred.headers()
    )

    assert response.status_code == 201, response.text
    purchase = response.json()["purchase"]
    assert purchase["amount"] == 13.45
    assert purchase["points_earned"] == 13.45
    assert purchase["purchased_at"] == "2026-01-15T00:52:10Z"
    assert purchase["location_id"] == location.id
    assert purchase["products"] == ["Margherita", "Soda"]
    assert await points_of(client, cred, member) == 13.45
    feedbacks = (await client.get("/partner/feedbacks", headers=cred.headers())).json()
    [feedback] = feedbacks["feedbacks"]
    assert feedback["id"] == purchase["feedback_id"]
    assert feedback["state"] == "expired"  # purchased long ago: the 14-day window has passed
    assert feedback["expires_at"] == "2026-01-29T00:52:10Z"
    assert feedback["purchase"] == {
        "id": purchase["id"],
        "purchased_at": "2026-01-15T00:52:10Z",
        "amount": 13.45,
        "order": None,
    }
    assert feedback["location_id"] == location.id


async def test_points_add_up_exactly(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, member: User
) -> None:
    now = isoformat_z(utcnow())
    for amount in (0.1, 0.2, "19.99"):
        response = await client.post(
            "/purchases", json=body(merchant, member, amount=amount, purchased_at=now),
            headers=cred.headers(),
        )  # fmt: skip
        assert response.status_code == 201, response.text

    assert await points_of(client, cred, member) == 20.29


async def test_a_fresh_purchase_opens_an_unviewed_feedback_for_the_configured_window(
    client: httpx.AsyncClient, app: FastAPI, cred: Credential, merchant: Merchant, member: User
) -> None:
    app.state.settings = Settings(feedback_window=timedelta(days=3))
    purchased_at = utcnow().replace(microsecond=0)

    created = await client.post(
        "/purchases",
        json=body(merchant, member, purchased_at=isoformat_z(purchased_at)),
        headers=cred.headers(),
    )
    [feedback] = (await client.get("/partner/feedbacks", headers=cred.headers())).json()[
        "feedbacks"
    ]

    assert created.status_code == 201
    assert feedback["state"] == "unviewed"
    assert feedback["expires_at"] == isoformat_z(purchased_at + timedelta(days=3))
    assert feedback["rating"] is None


def test_the_feedback_window_setting_reads_durations_and_refuses_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("THANX_FEEDBACK_WINDOW", "P3D")
    assert Settings().feedback_window == timedelta(days=3)
    monkeypatch.setenv("THANX_FEEDBACK_WINDOW", "3600")
    assert Settings().feedback_window == timedelta(hours=1)
    monkeypatch.setenv("THANX_FEEDBACK_WINDOW", "0")
    with pytest.raises(ValidationError, match="feedback_window"):
        Settings()


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"amount": 0}, "purchase.amount"),
        ({"amount": -5}, "purchase.amount"),
        ({"amount": 1.234}, "purchase.amount"),
        ({"amount": "lots"}, "purchase.amount"),
        ({"amount": 10**11}, "purchase.amount"),
        ({"amount": ...}, "purchase.amount"),
        ({"purchased_at": ...}, "purchase.purchased_at"),
        ({"purchased_at": "last tuesday"}, "purchase.purchased_at"),
        ({"purchased_at": "2999-01-01T00:00:00Z"}, "purchase.purchased_at"),
        ({"products": ["ok", 7]}, "purchase.products[1]"),
        ({"card_id": 12}, "purchase.card_id"),
        ({"user_id": ...}, "purchase.user_id"),
    ],
)
async def test_bad_purchases_are_400_naming_the_field_and_nothing_is_written(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    member: User,
    session: AsyncSession,
    fields: dict[str, Any],
    names: str,
) -> None:
    response = await client.post(
        "/purchases", json=body(merchant, member, **fields), headers=cred.headers()
    )

    assert_error(response, 400, "VALIDATION_FAILED", names)
    assert await count(session, Purchase) == 0
    assert await count(session, Feedback) == 0


async def test_purchase_needs_a_member_and_a_location_of_the_merchant(
    client: httpx.AsyncClient,
    factory: Factory,
    cred: Credential,
    merchant: Merchant,
    member: User,
    session: AsyncSession,
) -> None:
    other = await factory.merchant()
    stranger, _ = await factory.member(other)
    their_location = await factory.location(other)

    not_member = await client.post(
        "/purchases", json=body(merchant, stranger), headers=cred.headers()
    )
    foreign_location = await client.post(
        "/purchases",
        json=body(merchant, member, location_id=their_location.id),
        headers=cred.headers(),
    )
    foreign_merchant = await client.post(
        "/purchases", json=body(other, stranger), headers=cred.headers()
    )

    assert_error(not_member, 404, "RESOURCE_NOT_FOUND", "user_id")
    assert_error(foreign_location, 404, "RESOURCE_NOT_FOUND", "location_id")
    assert_error(foreign_merchant, 403, "FORBIDDEN", "merchant_id")
    assert await count(session, Purchase) == 0
    assert await points_of(client, cred, member) == 0


async def test_purchase_needs_purchases_write(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, member: User
) -> None:
    cred = await factory.partner([merchant], scopes=["feedbacks.write", "users.write"])

    response = await client.post("/purchases", json=body(merchant, member), headers=cred.headers())

    assert_error(response, 403, "FORBIDDEN", "purchases.write")


async def test_naive_purchase_time_is_read_as_utc(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, member: User
) -> None:
    response = await client.post(
        "/purchases",
        json=body(merchant, member, purchased_at="2026-01-15T08:00:00"),
        headers=cred.headers(),
    )

    assert response.json()["purchase"]["purchased_at"] == isoformat_z(
        datetime(2026, 1, 15, 8, tzinfo=UTC)
    )


# --- X-Idempotency-Key (issue 16) ----------------------------------------------------------------


async def test_a_retried_purchase_with_the_same_key_replays_and_adds_points_once(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    member: User,
    session: AsyncSession,
) -> None:
    headers = cred.headers(**{"X-Idempotency-Key": "till-7-receipt-991"})
    sent = body(merchant, member, amount=20)
    first = await client.post("/purchases", json=sent, headers=headers)
    reordered = {"purchase": dict(reversed(list(sent["purchase"].items())))}
    second = await client.post("/purchases", json=reordered, headers=headers)

    assert first.status_code == second.status_code == 201, second.text
    assert first.json() == second.json()
    assert await count(session, Purchase) == 1
    assert await count(session, Feedback) == 1
    assert await points_of(client, cred, member) == 20


async def test_the_same_key_with_another_purchase_is_422_and_writes_nothing(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    member: User,
    session: AsyncSession,
) -> None:
    headers = cred.headers(**{"X-Idempotency-Key": "k-1"})
    assert (
        await client.post("/purchases", json=body(merchant, member, amount=5), headers=headers)
    ).status_code == 201
    response = await client.post(
        "/purchases", json=body(merchant, member, amount=6), headers=headers
    )
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await count(session, Purchase) == 1
    assert await points_of(client, cred, member) == 5


async def test_purchases_without_a_key_or_with_distinct_keys_are_each_recorded(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    member: User,
    session: AsyncSession,
) -> None:
    sent = body(merchant, member, amount=2)
    for headers in (cred.headers(), cred.headers(), cred.headers(**{"X-Idempotency-Key": "a"})):
        assert (await client.post("/purchases", json=sent, headers=headers)).status_code == 201
    assert await count(session, Purchase) == 3
    assert await points_of(client, cred, member) == 6


async def test_a_refused_purchase_leaves_its_key_unused(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, member: User
) -> None:
    headers = cred.headers(**{"X-Idempotency-Key": "fix-and-retry"})
    refused = await client.post(
        "/purchases", json=body(merchant, member, location_id="nowhere"), headers=headers
    )
    assert_error(refused, 404, "RESOURCE_NOT_FOUND", "purchase.location_id")
    fixed = await client.post("/purchases", json=body(merchant, member), headers=headers)
    assert fixed.status_code == 201, fixed.text


async def test_a_blank_idempotency_key_is_400(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, member: User
) -> None:
    response = await client.post(
        "/purchases",
        json=body(merchant, member),
        headers=cred.headers(**{"X-Idempotency-Key": "  "}),
    )
    assert_error(response, 400, "VALIDATION_FAILED", "X-Idempotency-Key")


async def test_identical_purchases_racing_with_one_key_add_points_once(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """Six concurrent copies of one keyed purchase on a committing database: one purchase, one
    increment of the balance, six identical answers."""
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        async with database.write_sessions() as setup, setup.begin():
            factory = Factory(setup)
            merchant = await factory.merchant()
            user, _ = await factory.member(merchant)
            cred = await factory.partner([merchant], scopes=["purchases.write"])
        settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
        app = create_app(settings, database=database)
        transport = httpx.ASGITransport(app=app)
        headers = cred.headers(**{"X-Idempotency-Key": "race"})
        sent = body(merchant, user, amount=7.5)
        async with httpx.AsyncClient(transport=transport, base_url="http://race") as race:
            responses = await asyncio.gather(
                *(race.post("/purchases", json=sent, headers=headers) for _ in range(6))
            )
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
        assert len({r.text for r in responses}) == 1
        async with database.read_sessions() as check:
            assert await count(check, Purchase) == 1
            balance = await check.scalar(
                select(Membership.points_balance).where(Membership.user_id == user.id)
            )
        assert balance == Decimal("7.5")
    finally:
        await database.dispose()


async def test_concurrent_purchases_of_one_member_all_succeed_and_add_up(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """Issue 17: 32 purchases of one member at once, on a committing database, contend for the
    member's two rows (membership, user). Every one is recorded (201: no lock wait past the
    statement bound, no lost increment), and the balance, the lifetime total, the purchases,
    the feedback records and the webhook events all add up."""
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        async with database.write_sessions() as setup, setup.begin():
            factory = Factory(setup)
            merchant = await factory.merchant()
            user, _ = await factory.member(merchant)
            cred = await factory.partner([merchant], scopes=["purchases.write"])
        settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
        transport = httpx.ASGITransport(app=create_app(settings, database=database))
        sent = body(merchant, user, amount=2.5)
        async with httpx.AsyncClient(transport=transport, base_url="http://race") as race:
            responses = await asyncio.gather(
                *(race.post("/purchases", json=sent, headers=cred.headers()) for _ in range(32))
            )
        assert [r.status_code for r in responses] == [201] * 32, [r.text for r in responses]
        ids = {r.json()["purchase"]["id"] for r in responses}
        async with database.read_sessions() as check:
            balance, earned = (
                await check.execute(
                    select(Membership.points_balance, Membership.points_earned).where(
                        Membership.user_id == user.id
                    )
                )
            ).one()
            recorded = set((await check.scalars(select(Purchase.id))).all())
            opened = await check.scalar(
                select(func.count()).where(Feedback.purchase_id.in_(recorded))
            )
            outbox = (
                await check.scalars(
                    select(WebhookOutbox.events).where(WebhookOutbox.type == "purchase.created")
                )
            ).all()
        events = {event[1] for row in outbox for event in json.loads(row)}
        assert balance == earned == Decimal("80")
        assert recorded == ids == events
        assert opened == 32
    finally:
        await database.dispose()


async def test_the_members_rows_are_written_last(fresh_db_url: str, tmp_path: Path) -> None:
    """Why the test above holds under load on PostgreSQL: the member's rows are what every
    purchase of that member waits for, so they are the transaction's last writes (their locks
    held for two statements and the commit, not for the inserts as well). Before issue 17 they
    were its first, and 32 purchases of one member queued for ~1 s, a few past the 2.5 s
    statement bound (503)."""
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        async with database.write_sessions() as setup, setup.begin():
            factory = Factory(setup)
            merchant = await factory.merchant()
            user, _ = await factory.member(merchant)
            location = await factory.location(merchant)
            cred = await factory.partner([merchant], scopes=["purchases.write"])
        statements: list[str] = []

        def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(" ".join(statement.split()[:3]).upper())

        settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
        transport = httpx.ASGITransport(app=create_app(settings, database=database))
        async with httpx.AsyncClient(transport=transport, base_url="http://once") as once:
            event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
            try:
                response = await once.post(
                    "/purchases",
                    json=body(merchant, user, location_id=location.id),
                    headers=cred.headers(),
                )
            finally:
                event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
        assert response.status_code == 201, response.text
        writes = [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE"))]
        assert writes[-2:] == ["UPDATE MEMBERSHIPS SET", "UPDATE USERS SET"], statements
        assert sorted(writes[:-2]) == [
            "INSERT INTO FEEDBACKS",
            "INSERT INTO PURCHASES",
            "INSERT INTO WEBHOOK_OUTBOX",
        ], statements
        # One read of the purchase's own (member, merchant, points experience and location at
        # once); the others are the sandbox clock and the credential's first lookup.
        reads = [
            s
            for s in statements
            if s.startswith("SELECT") and "SANDBOX" not in s and "CREDENTIALS" not in s
        ]
        assert len(reads) == 1, statements
    finally:
        await database.dispose()


async def test_a_purchase_past_the_balance_bound_writes_nothing(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    member: User,
    session: AsyncSession,
) -> None:
    """The guard on the balance is the last write: a refused purchase rolls back the purchase,
    its feedback record and its event with it."""
    await session.execute(
        update(Membership)
        .where(Membership.user_id == member.id)
        .values(points_balance=BALANCE_MAX)
        .execution_options(synchronize_session=False)
    )
    refused = await client.post("/purchases", json=body(merchant, member), headers=cred.headers())
    assert_error(refused, 422, "INVALID_STATE", "purchase.amount")
    assert await count(session, Purchase) == 0
    assert await count(session, Feedback) == 0
    assert await session.scalar(select(func.count()).select_from(WebhookOutbox)) == 0
