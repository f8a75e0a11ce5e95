"""Promotions and promotion codes (issue 16, reference B.11)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests import loyalty_factories as lf
from tests.factories import Credential, Factory, assert_error
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.ids import CODE_ALPHABET
from thanx_server.kit.time import isoformat_z, utcnow
from thanx_server.models import Merchant, Promotion, PromotionCode
from thanx_server.settings import Settings


@pytest.fixture
async def merchant(factory: Factory) -> Merchant:
    return await factory.merchant()


@pytest.fixture
async def cred(factory: Factory, merchant: Merchant) -> Credential:
    return await factory.partner([merchant], scopes=["promos.read", "promos.write"])


def promo(merchant: Merchant, **fields: Any) -> dict[str, Any]:
    return {"merchant_id": merchant.id, "promotion": {"name": "Summer Launch", **fields}}


async def create(client: httpx.AsyncClient, cred: Credential, body: dict[str, Any]) -> Any:
    response = await client.post("/partner/promotions", json=body, headers=cred.headers())
    assert response.status_code == 201, response.text
    return response.json()["promotion"]


async def codes_of(session: AsyncSession, promotion_id: str) -> list[str]:
    return list(
        (
            await session.scalars(
                select(PromotionCode.code).where(PromotionCode.promotion_id == promotion_id)
            )
        ).all()
    )


async def test_create_list_and_get_a_promotion(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    template = await lf.template(session, merchant)
    created = await create(
        client, cred,
        promo(merchant, description="Launch week", reward_template_id=template.id, code_count=25),
    )  # fmt: skip
    assert created["name"] == "Summer Launch"
    assert created["state"] == "active"
    assert created["code_count"] == 25
    assert created["reward_template_id"] == template.id
    assert created["end_at"] is None
    assert len(await codes_of(session, created["id"])) == 25

    listed = await client.get("/partner/promotions", headers=cred.headers())
    assert listed.status_code == 200, listed.text
    assert [p["id"] for p in listed.json()["promotions"]] == [created["id"]]
    assert listed.json()["pagination"] == {"current_page": 1, "per_page": 10, "total_pages": 1}
    got = await client.get(f"/partner/promotions/{created['id']}", headers=cred.headers())
    assert got.json()["promotion"] == created


async def test_the_list_shows_active_promotions_only(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant
) -> None:
    now = utcnow()
    active = await create(client, cred, promo(merchant, name="Now"))
    scheduled = await create(
        client, cred, promo(merchant, name="Later", start_at=isoformat_z(now + timedelta(days=2)))
    )
    ended = await create(
        client, cred,
        promo(merchant, name="Past", start_at=isoformat_z(now - timedelta(days=9)),
              end_at=isoformat_z(now - timedelta(days=2))),
    )  # fmt: skip
    assert (scheduled["state"], ended["state"]) == ("scheduled", "ended")
    listed = await client.get("/partner/promotions", headers=cred.headers())
    assert [p["id"] for p in listed.json()["promotions"]] == [active["id"]]
    by_id = await client.get(f"/partner/promotions/{ended['id']}", headers=cred.headers())
    assert by_id.json()["promotion"]["state"] == "ended"


async def test_generate_adds_a_batch_of_unique_unguessable_codes(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    created = await create(client, cred, promo(merchant, code_count=10))
    response = await client.post(
        f"/partner/promotions/{created['id']}/codes", json={"count": 500}, headers=cred.headers()
    )
    assert response.status_code == 201, response.text
    batch = response.json()["promotion_code_batch"]
    assert batch["count"] == 500
    assert response.json()["promotion"]["code_count"] == 510
    codes = await codes_of(session, created["id"])
    assert len(codes) == len(set(codes)) == 510
    assert all(len(c) == 12 and set(c) <= set(CODE_ALPHABET) for c in codes)

    page = await client.get(
        f"/partner/promotions/{created['id']}/codes",
        params={"batch_id": batch["id"], "per_page": 100, "page": 5},
        headers=cred.headers(),
    )
    assert page.status_code == 200, page.text
    listed = page.json()["promotion_codes"]
    assert len(listed) == 100
    assert page.json()["pagination"] == {"current_page": 5, "per_page": 100, "total_pages": 5}
    assert {c["batch_id"] for c in listed} == {batch["id"]}
    assert listed[0] == {
        **listed[0], "promotion_id": created["id"], "state": "available", "redeemed_at": None
    }  # fmt: skip
    whole = await client.get(
        f"/partner/promotions/{created['id']}/codes", params={"per_page": 100},
        headers=cred.headers(),
    )  # fmt: skip
    assert whole.json()["pagination"]["total_pages"] == 6
    first = [c["code"] for c in whole.json()["promotion_codes"]]
    assert first == sorted(first)


@pytest.mark.parametrize(
    ("count", "status", "code"),
    [(0, 400, "VALIDATION_FAILED"), (100_001, 422, "CODE_LIMIT_EXCEEDED"),
     ("5", 400, "VALIDATION_FAILED")],
)  # fmt: skip
async def test_generate_counts_out_of_range_are_refused(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    session: AsyncSession,
    count: Any,
    status: int,
    code: str,
) -> None:
    created = await create(client, cred, promo(merchant))
    response = await client.post(
        f"/partner/promotions/{created['id']}/codes", json={"count": count}, headers=cred.headers()
    )
    assert_error(response, status, code, "count")
    assert await codes_of(session, created["id"]) == []


async def test_creation_validates_and_writes_nothing_when_refused(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    now = utcnow()
    cases = [
        (promo(merchant, code_count=4_000_001), 422, "CODE_LIMIT_EXCEEDED", "code_count"),
        (promo(merchant, name=""), 400, "VALIDATION_FAILED", "promotion.name"),
        (promo(merchant, name="   "), 400, "VALIDATION_FAILED", "promotion.name"),
        (promo(merchant, code_count=-1), 400, "VALIDATION_FAILED", "code_count"),
        (promo(merchant, reward_template_id="nope"), 404, "RESOURCE_NOT_FOUND", "reward_template"),
        (promo(merchant, start_at=isoformat_z(now), end_at=isoformat_z(now - timedelta(days=1))),
         400, "VALIDATION_FAILED", "promotion.end_at"),
        (promo(merchant, end_at=isoformat_z(now - timedelta(days=1))),
         400, "VALIDATION_FAILED", "promotion.end_at"),
    ]  # fmt: skip
    for body, status, code, names in cases:
        response = await client.post("/partner/promotions", json=body, headers=cred.headers())
        assert_error(response, status, code, names)
    assert await session.scalar(select(func.count()).select_from(Promotion)) == 0


async def test_scopes_and_merchants_are_enforced(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant
) -> None:
    created = await create(client, cred, promo(merchant))
    reader = await factory.partner([merchant], scopes=["promos.read"])
    assert_error(
        await client.post("/partner/promotions", json=promo(merchant), headers=reader.headers()),
        403, "FORBIDDEN",
    )  # fmt: skip
    assert_error(
        await client.post(
            f"/partner/promotions/{created['id']}/codes", json={"count": 1},
            headers=reader.headers(),
        ),
        403, "FORBIDDEN",
    )  # fmt: skip
    other_merchant = await factory.merchant()
    outsider = await factory.partner([other_merchant], scopes=["promos.read", "promos.write"])
    for path in (
        f"/partner/promotions/{created['id']}",
        f"/partner/promotions/{created['id']}/codes",
    ):
        assert_error(await client.get(path, headers=outsider.headers()), 404, "RESOURCE_NOT_FOUND")
    assert_error(
        await client.post("/partner/promotions", json=promo(merchant), headers=outsider.headers()),
        403, "FORBIDDEN",
    )  # fmt: skip
    assert (await client.get("/partner/promotions", headers=outsider.headers())).json()[
        "promotions"
    ] == []


async def test_generate_honours_the_idempotency_key(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    created = await create(client, cred, promo(merchant))
    path = f"/partner/promotions/{created['id']}/codes"
    headers = cred.headers(**{"X-Idempotency-Key": "gen-1"})
    first = await client.post(path, json={"count": 50}, headers=headers)
    again = await client.post(path, json={"count": 50}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(await codes_of(session, created["id"])) == 50
    other = await client.post(path, json={"count": 51}, headers=headers)
    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED")


async def test_create_honours_the_idempotency_key(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    headers = cred.headers(**{"X-Idempotency-Key": "create-1"})
    body = promo(merchant, code_count=5)
    first = await client.post("/partner/promotions", json=body, headers=headers)
    again = await client.post("/partner/promotions", json=body, headers=headers)
    assert first.json() == again.json()
    assert await session.scalar(select(func.count()).select_from(Promotion)) == 1


async def test_a_merchant_cannot_hold_one_code_twice(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant,
    session: AsyncSession,
) -> None:  # fmt: skip
    """The primary key is (merchant_id, code): the database refuses a second copy of a code,
    which is what makes a colliding draw roll back and draw again."""
    created = await create(client, cred, promo(merchant, code_count=1))
    (code,) = await codes_of(session, created["id"])
    twin = PromotionCode(
        merchant_id=merchant.id, code=code, promotion_id=created["id"],
        batch_id="x", state="available", created_at=utcnow(),
    )  # fmt: skip
    session.add(twin)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await session.flush()


async def test_promotion_operations_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    generate = paths["/partner/promotions/{id}/codes"]["post"]
    assert "CODE_LIMIT_EXCEEDED" in generate["responses"]["422"]["description"]
    assert "X-Idempotency-Key" in [p["name"] for p in generate["parameters"]]
    assert {"201", "400", "401", "403", "404", "422"} <= set(
        paths["/partner/promotions"]["post"]["responses"]
    )
    for path in (
        "/partner/promotions",
        "/partner/promotions/{id}",
        "/partner/promotions/{id}/codes",
    ):
        assert {"200", "401", "403"} <= set(paths[path]["get"]["responses"]), path


async def test_identical_generates_racing_with_one_key_make_one_batch(
    fresh_db_url: str, tmp_path: Path
) -> None:
    database = Database.from_engine(create_engine(fresh_db_url))
    settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
    transport = httpx.ASGITransport(app=create_app(settings, database=database))
    try:
        async with database.write_sessions() as setup, setup.begin():
            factory = Factory(setup)
            merchant = await factory.merchant()
            cred = await factory.partner([merchant], scopes=["promos.write", "promos.read"])
        async with httpx.AsyncClient(transport=transport, base_url="http://race") as race:
            created = await create(race, cred, promo(merchant))
            headers = cred.headers(**{"X-Idempotency-Key": "race"})
            responses = await asyncio.gather(
                *(race.post(f"/partner/promotions/{created['id']}/codes", json={"count": 2000},
                            headers=headers)
                  for _ in range(4))
            )  # fmt: skip
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
        assert len({r.text for r in responses}) == 1
        async with database.read_sessions() as check:
            assert len(await codes_of(check, created["id"])) == 2000
    finally:
        await database.dispose()


async def test_a_large_creation_count_is_drawn_by_workers_under_a_lease(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above one call's worth (shrunk to 1,000 here) the answer comes at once with the count
    pending; workers draw it a chunk per transaction. A lease held by another live worker is
    left alone; once drawn, the pool holds exactly the count asked for."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from thanx_server.promotion import service as promotion_service
    from thanx_server.promotion import tasks as promotion_tasks

    monkeypatch.setattr(promotion_service, "CHUNK", 1000)
    database = Database.from_engine(create_engine(fresh_db_url))
    settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
    transport = httpx.ASGITransport(app=create_app(settings, database=database))
    lease = timedelta(seconds=60)
    try:
        async with database.write_sessions() as setup, setup.begin():
            factory = Factory(setup)
            merchant = await factory.merchant()
            cred = await factory.partner([merchant], scopes=["promos.write", "promos.read"])
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
            created = await create(client, cred, promo(merchant, code_count=2500))
            assert (created["code_count"], created["pending_code_count"]) == (0, 2500)
            async with database.write_sessions() as session, session.begin():
                await session.execute(
                    update(Promotion).values(
                        lease_owner="someone-else",
                        lease_expires_at=datetime.now(UTC) + timedelta(minutes=5),
                    )
                )
            assert await promotion_tasks.drain(database, owner="me", lease=lease) == 0
            async with database.write_sessions() as session, session.begin():
                await session.execute(
                    update(Promotion).values(
                        lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)
                    )
                )  # that worker died: its lease expired
            assert await promotion_tasks.drain(database, owner="me", lease=lease) == 1
            assert await promotion_tasks.drain(database, owner="me", lease=lease) == 0
            got = (
                await client.get(f"/partner/promotions/{created['id']}", headers=cred.headers())
            ).json()["promotion"]
        assert (got["code_count"], got["pending_code_count"]) == (2500, 0)
        async with database.read_sessions() as check:
            codes = await codes_of(check, created["id"])
            row = await check.get(Promotion, created["id"])
        assert len(codes) == len(set(codes)) == 2500
        assert row is not None
        assert (row.lease_owner, row.pending_batch_id) == (None, None)
    finally:
        await database.dispose()
