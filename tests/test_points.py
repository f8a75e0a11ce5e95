"""Points (issue 16, reference C.9): experiences, balance, products, exchange, accrual, tiers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests import loyalty_factories as lf
from tests.factories import Credential, Factory, assert_error
from tests.test_rewards import token_for
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.time import utcnow
from thanx_server.models import (
    Membership,
    Merchant,
    PointsExperience,
    PointsProduct,
    Reward,
    RewardTemplate,
    User,
)
from thanx_server.points import service as points_service
from thanx_server.settings import Settings


@dataclass
class World:
    merchant: Merchant
    user: User
    cred: Credential
    template: RewardTemplate
    experience: PointsExperience
    product: PointsProduct
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept-Version": "v4.0"}


async def set_balance(session: AsyncSession, user: User, points: str) -> None:
    await session.execute(
        update(Membership).where(Membership.user_id == user.id).values(points_balance=points)
    )
    await session.flush()


async def balance_of(session: AsyncSession, user: User, merchant: Merchant) -> Decimal:
    found = await session.scalar(
        select(Membership.points_balance).where(
            Membership.user_id == user.id, Membership.merchant_id == merchant.id
        )
    )
    assert found is not None
    return found


async def build(session: AsyncSession, factory: Factory, client: httpx.AsyncClient) -> World:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant])
    template = await lf.template(session, merchant, name="Free Pizza")
    experience = await points_service.create_experience(
        session,
        merchant_id=merchant.id,
        name="Pizza Points",
        currency_name="slice",
        currency_plural="slices",
        currency_description="Earn slices on every order",
        conversion=Decimal("2"),
        images={"index": {"small": "https://img.example/p.png", "large": None}},
    )
    product = await points_service.create_product(
        session, merchant_id=merchant.id, reward_template_id=template.id, cost=Decimal("30")
    )
    token = await token_for(client, cred, merchant, user)
    return World(merchant, user, cred, template, experience, product, token)


@pytest.fixture
async def world(session: AsyncSession, factory: Factory, client: httpx.AsyncClient) -> World:
    return await build(session, factory, client)


async def test_experiences_are_listed_and_read_by_token_and_partner(
    client: httpx.AsyncClient, world: World
) -> None:
    listed = await client.get("/points_experiences", headers=world.bearer)
    assert listed.status_code == 200, listed.text
    (experience,) = listed.json()["points_experiences"]
    assert experience == {
        "id": world.experience.id,
        "merchant_id": world.merchant.id,
        "name": "Pizza Points",
        "currency": {
            "name": "slice",
            "plural": "slices",
            "description": "Earn slices on every order",
            "conversion": 2,
        },
        "images": {
            "index": {"small": "https://img.example/p.png", "large": None},
            "detail": {"small": None, "large": None},
            "advertising": {"small": None, "large": None},
        },
    }
    by_partner = await client.get(
        f"/points_experiences/{world.experience.id}", headers=world.cred.headers()
    )
    assert by_partner.json()["points_experience"] == experience


async def test_another_merchants_experience_is_404_and_not_listed(
    client: httpx.AsyncClient, world: World, factory: Factory, session: AsyncSession
) -> None:
    other = await factory.merchant()
    theirs = await points_service.create_experience(session, merchant_id=other.id, name="Other")
    assert_error(
        await client.get(f"/points_experiences/{theirs.id}", headers=world.bearer),
        404,
        "RESOURCE_NOT_FOUND",
    )
    listed = await client.get(
        "/points_experiences", params={"merchant_id": other.id}, headers=world.bearer
    )
    assert listed.json()["points_experiences"] == []
    assert_error(
        await client.get(
            "/points_experiences", params={"merchant_id": other.id}, headers=world.cred.headers()
        ),
        403,
        "FORBIDDEN",
    )


async def test_balance_of_the_token_user_or_the_named_member(
    client: httpx.AsyncClient, world: World, session: AsyncSession, factory: Factory
) -> None:
    await set_balance(session, world.user, "42.50")
    path = f"/points_experiences/{world.experience.id}/balance"
    mine = await client.get(path, headers=world.bearer)
    assert mine.status_code == 200, mine.text
    assert mine.json()["balance"] == {
        "points_experience_id": world.experience.id,
        "user_id": world.user.id,
        "balance": 42.5,
        "tier": "bronze",
    }
    named = await client.get(path, params={"user_id": world.user.id}, headers=world.cred.headers())
    assert named.json() == mine.json()
    assert_error(await client.get(path, headers=world.cred.headers()), 400, "VALIDATION_FAILED")
    stranger, _ = await factory.member(await factory.merchant())
    assert_error(
        await client.get(path, params={"user_id": stranger.id}, headers=world.cred.headers()),
        404,
        "RESOURCE_NOT_FOUND",
    )


async def test_products_are_listed_with_their_reward_and_paginated(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    later = await points_service.create_product(
        session,
        merchant_id=world.merchant.id,
        reward_template_id=world.template.id,
        cost=Decimal("99.5"),
        exchange_end_at=utcnow() + timedelta(days=3),
        valid_location_ids=["loc1"],
    )
    response = await client.get(
        "/points_products",
        params={"points_experience_id": world.experience.id, "per_page": 1},
        headers=world.bearer,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pagination"] == {
        "current_page": 1, "per_page": 1, "total_pages": 2, "total_page": 2
    }  # fmt: skip
    (item,) = body["points_products"]
    assert item["id"] == later.id
    assert item["cost"] == 99.5
    assert item["name"] == "Free Pizza"
    assert item["points_experience_id"] == world.experience.id
    assert item["valid_location_ids"] == ["loc1"]
    assert item["redeem"]["venue"] == "instore"
    assert item["image"] == {
        "small": "https://img.example/s.png",
        "large": "https://img.example/l.png",
    }
    assert item["exchange_start_at"] is None
    assert item["exchange_end_at"].endswith("Z")
    by_partner = await client.get("/points_products", headers=world.cred.headers())
    assert len(by_partner.json()["points_products"]) == 2


async def test_exchange_turns_points_into_a_reward(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await set_balance(session, world.user, "75")
    response = await client.post(
        f"/points_products/{world.product.id}/rewards", headers=world.bearer
    )
    assert response.status_code == 201, response.text
    reward = response.json()["reward"]
    assert reward["earn"] == {"type": "points_exchange"}
    assert reward["state"] == "available"
    assert reward["user_id"] == world.user.id
    assert reward["campaign_id"] is None
    assert reward["redeem"]["text"] == "Free coffee"
    assert await balance_of(session, world.user, world.merchant) == Decimal("45")
    listed = await client.get("/rewards", headers=world.bearer)
    assert [r["id"] for r in listed.json()["rewards"]] == [reward["id"]]


async def test_an_exchange_the_balance_cannot_pay_fails_and_writes_nothing(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await set_balance(session, world.user, "29.99")
    response = await client.post(
        f"/points_products/{world.product.id}/rewards", headers=world.bearer
    )
    assert_error(response, 400, "POINTS_EXCHANGE_FAILURE")
    assert await balance_of(session, world.user, world.merchant) == Decimal("29.99")
    assert await session.scalar(select(func.count()).select_from(Reward)) == 0


async def test_an_exchange_outside_its_window_fails(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    await set_balance(session, world.user, "500")
    world.product.exchange_start_at = utcnow() + timedelta(days=1)
    await session.flush()
    response = await client.post(
        f"/points_products/{world.product.id}/rewards", headers=world.bearer
    )
    assert_error(response, 400, "POINTS_EXCHANGE_FAILURE")
    assert await balance_of(session, world.user, world.merchant) == Decimal("500")


async def test_exchange_needs_an_end_user_token_and_a_product_of_its_merchant(
    client: httpx.AsyncClient, world: World, session: AsyncSession, factory: Factory
) -> None:
    other = await factory.merchant()
    template = await lf.template(session, other)
    await points_service.create_experience(session, merchant_id=other.id, name="Other")
    theirs = await points_service.create_product(
        session, merchant_id=other.id, reward_template_id=template.id, cost=Decimal("1")
    )
    await set_balance(session, world.user, "500")
    assert_error(
        await client.post(f"/points_products/{theirs.id}/rewards", headers=world.bearer),
        404,
        "RESOURCE_NOT_FOUND",
    )
    assert_error(
        await client.post(
            f"/points_products/{world.product.id}/rewards", headers=world.cred.headers()
        ),
        401,
        "AUTHENTICATION_GENERIC",
    )


async def test_purchases_accrue_at_the_conversion_rate_and_move_the_tier(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    async def purchase(amount: float) -> None:
        response = await client.post(
            "/purchases",
            json={"purchase": {
                "merchant_id": world.merchant.id, "user_id": world.user.id, "amount": amount,
                "purchased_at": "2026-01-15T00:52:10Z",
            }},
            headers=world.cred.headers(),
        )  # fmt: skip
        assert response.status_code == 201, response.text

    path = f"/points_experiences/{world.experience.id}/balance"
    await purchase(100)  # 200 points earned: still bronze
    assert (await client.get(path, headers=world.bearer)).json()["balance"]["tier"] == "bronze"
    await purchase(25.01)  # 50.02 more: 250.02 earned, silver
    balance = (await client.get(path, headers=world.bearer)).json()["balance"]
    assert balance == {**balance, "balance": 250.02, "tier": "silver"}
    # Spending points never moves a member down.
    exchanged = await client.post(
        f"/points_products/{world.product.id}/rewards", headers=world.bearer
    )
    assert exchanged.status_code == 201, exchanged.text
    balance = (await client.get(path, headers=world.bearer)).json()["balance"]
    assert balance == {**balance, "balance": 220.02, "tier": "silver"}
    await purchase(400)  # 800 more: 1,050.02 earned, gold
    balance = (await client.get(path, headers=world.bearer)).json()["balance"]
    assert balance["tier"] == "gold"
    user = await client.get(f"/partner/users/{world.user.id}", headers=world.cred.headers())
    assert user.json()["user"]["loyalty"]["tier"] == "gold"


async def test_operator_rules_for_experiences_and_products(
    world: World, session: AsyncSession, factory: Factory
) -> None:
    from thanx_server.kit.errors import NotFound, ValidationFailed

    with pytest.raises(ValidationFailed, match="has a points experience"):
        await points_service.create_experience(
            session, merchant_id=world.merchant.id, name="Second"
        )
    with pytest.raises(ValidationFailed, match="cost"):
        await points_service.create_product(
            session, merchant_id=world.merchant.id, reward_template_id=world.template.id,
            cost=Decimal("0"),
        )  # fmt: skip
    draft = await lf.template(session, world.merchant, published=False)
    with pytest.raises(NotFound):
        await points_service.create_product(
            session, merchant_id=world.merchant.id, reward_template_id=draft.id, cost=Decimal(1)
        )
    bare = await factory.merchant()
    with pytest.raises(ValidationFailed, match="no points experience"):
        await points_service.create_product(
            session, merchant_id=bare.id, reward_template_id=world.template.id, cost=Decimal(1)
        )


async def test_points_operations_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    exchange = paths["/points_products/{product_id}/rewards"]["post"]
    assert "POINTS_EXCHANGE_FAILURE" in exchange["responses"]["400"]["description"]
    for path in (
        "/points_experiences",
        "/points_experiences/{experience_id}",
        "/points_experiences/{experience_id}/balance",
        "/points_products",
    ):
        assert {"200", "401", "404"} <= set(paths[path]["get"]["responses"]), path


async def test_concurrent_exchanges_never_overdraw_and_never_reward_without_deduction(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """Eight exchanges of a 30-point product race against a 100-point balance on a committing
    database: exactly three succeed, the balance ends at 10, there are exactly three rewards."""
    database = Database.from_engine(create_engine(fresh_db_url))
    settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
    transport = httpx.ASGITransport(app=create_app(settings, database=database))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://race") as race:
            async with database.write_sessions() as setup, setup.begin():
                factory = Factory(setup)
                merchant = await factory.merchant()
                user, membership = await factory.member(merchant)
                membership.points_balance = Decimal("100")
                cred = await factory.partner([merchant])
                template = await lf.template(setup, merchant)
                await points_service.create_experience(setup, merchant_id=merchant.id, name="P")
                product = await points_service.create_product(
                    setup, merchant_id=merchant.id, reward_template_id=template.id,
                    cost=Decimal("30"),
                )  # fmt: skip
            token = await token_for(race, cred, merchant, user)
            headers = {"Authorization": f"Bearer {token}"}
            responses = await asyncio.gather(
                *(race.post(f"/points_products/{product.id}/rewards", headers=headers)
                  for _ in range(8))
            )  # fmt: skip
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] * 3 + [400] * 5, [r.text for r in responses]
        assert all(
            r.json()["error"]["code"] == "POINTS_EXCHANGE_FAILURE"
            for r in responses
            if r.status_code == 400
        )
        async with database.read_sessions() as check:
            balance = await check.scalar(
                select(Membership.points_balance).where(Membership.user_id == user.id)
            )
            rewards = await check.scalar(
                select(func.count()).where(Reward.earn_type == "points_exchange")
            )
        assert balance == Decimal("10")
        assert rewards == 3
    finally:
        await database.dispose()
