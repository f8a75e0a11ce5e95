"""Coupon codes on rewards and ``olo_uid`` (issue 16, reference C.1)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests import loyalty_factories as lf
from tests.cli import Cli
from tests.factories import Credential, Factory, assert_error
from tests.test_rewards import token_for
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.errors import ValidationFailed
from thanx_server.models import CouponCode, Merchant, Reward, RewardTemplate, User
from thanx_server.points import service as points_service
from thanx_server.settings import Settings
from thanx_server.template import service as template_service


async def bearer_for(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, user: User
) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token_for(client, cred, merchant, user)}"}


async def coupon_template(
    session: AsyncSession, merchant: Merchant, **kw: object
) -> RewardTemplate:
    return await template_service.create_template(
        session,
        merchant_id=merchant.id,
        name="Free Fries",
        **kw,  # type: ignore[arg-type]
    )


async def reward_of(
    session: AsyncSession, user: User, merchant: Merchant, template: RewardTemplate
) -> Reward:
    campaign, variant = await lf.campaign(session, merchant, template)
    return await lf.reward(session, user, campaign, template, variant)


async def test_a_static_code_shows_once_the_reward_is_active(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant])
    template = await coupon_template(
        session, merchant, static_coupon_code="FRIES2026", coupon_code_type="qrcode",
        coupon_code_display="Scan at the till",
    )  # fmt: skip
    reward = await reward_of(session, user, merchant, template)
    bearer = await bearer_for(client, cred, merchant, user)
    before = (await client.get(f"/rewards/{reward.id}", headers=bearer)).json()["reward"]
    assert before["coupon_code"] == {"code": None, "type": None, "display": None}
    assert before["uses_dynamic_coupon_codes"] is False
    active = await client.patch(f"/rewards/{reward.id}/activate", headers=bearer)
    assert active.json()["reward"]["coupon_code"] == {
        "code": "FRIES2026", "type": "qrcode", "display": "Scan at the till"
    }  # fmt: skip


async def test_a_dynamic_pool_gives_each_activation_its_own_code_until_empty(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    cred = await factory.partner([merchant])
    template = await coupon_template(session, merchant, uses_dynamic_coupon_codes=True)
    added = await template_service.add_coupon_codes(
        session, template_id=template.id, codes=["A-1", "A-2", "A-2", " "]
    )
    assert added == 2
    assert await template_service.add_coupon_codes(
        session, template_id=template.id, codes=["A-2"]
    ) == 0  # fmt: skip
    codes = []
    for _ in range(3):
        user, _ = await factory.member(merchant)
        reward = await reward_of(session, user, merchant, template)
        bearer = await bearer_for(client, cred, merchant, user)
        listed = (await client.get(f"/rewards/{reward.id}", headers=bearer)).json()["reward"]
        assert listed["uses_dynamic_coupon_codes"] is True
        response = await client.patch(f"/rewards/{reward.id}/activate", headers=bearer)
        if len(codes) < 2:
            assert response.status_code == 200, response.text
            code = response.json()["reward"]["coupon_code"]
            assert code["type"] == "text"
            codes.append(code["code"])
            again = await client.patch(f"/rewards/{reward.id}/activate", headers=bearer)
            assert again.json()["reward"]["coupon_code"] == code  # a retry keeps its code
        else:
            assert_error(response, 400, "COUPON_CODES_EXHAUSTED")
            after = (await client.get(f"/rewards/{reward.id}", headers=bearer)).json()["reward"]
            assert after["state"] == "available"
    assert sorted(codes) == ["A-1", "A-2"]


async def test_a_points_product_of_a_pool_template_pulls_a_code_at_activation(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    user, membership = await factory.member(merchant)
    membership.points_balance = Decimal(50)
    cred = await factory.partner([merchant])
    template = await coupon_template(session, merchant, uses_dynamic_coupon_codes=True)
    await template_service.add_coupon_codes(session, template_id=template.id, codes=["P-9"])
    await points_service.create_experience(session, merchant_id=merchant.id, name="P")
    product = await points_service.create_product(
        session, merchant_id=merchant.id, reward_template_id=template.id, cost=Decimal(10)
    )
    bearer = await bearer_for(client, cred, merchant, user)
    reward = (await client.post(f"/points_products/{product.id}/rewards", headers=bearer)).json()
    assert reward["reward"]["uses_dynamic_coupon_codes"] is True
    active = await client.patch(f"/rewards/{reward['reward']['id']}/activate", headers=bearer)
    assert active.json()["reward"]["coupon_code"]["code"] == "P-9"


async def test_template_coupon_rules(factory: Factory, session: AsyncSession) -> None:
    merchant = await factory.merchant()
    with pytest.raises(ValidationFailed, match="static code or a dynamic pool"):
        await coupon_template(
            session, merchant, static_coupon_code="X", uses_dynamic_coupon_codes=True
        )
    with pytest.raises(ValidationFailed, match="coupon_code_type"):
        await coupon_template(session, merchant, static_coupon_code="X", coupon_code_type="morse")
    plain = await coupon_template(session, merchant)
    with pytest.raises(ValidationFailed, match="does not use dynamic"):
        await template_service.add_coupon_codes(session, template_id=plain.id, codes=["Z"])


async def test_olo_merchants_expose_olo_uid_on_rewards_and_products(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    for olo in (True, False):
        merchant = await factory.merchant()
        merchant.olo_integrated = olo
        user, membership = await factory.member(merchant)
        membership.points_balance = Decimal(50)
        cred = await factory.partner([merchant])
        template = await lf.template(session, merchant)
        await points_service.create_experience(session, merchant_id=merchant.id, name="P")
        product = await points_service.create_product(
            session, merchant_id=merchant.id, reward_template_id=template.id, cost=Decimal(10)
        )
        await session.flush()
        bearer = await bearer_for(client, cred, merchant, user)
        exchanged = await client.post(f"/points_products/{product.id}/rewards", headers=bearer)
        reward = exchanged.json()["reward"]
        listed = (await client.get("/rewards", headers=bearer)).json()["rewards"][0]
        products = (await client.get("/points_products", headers=bearer)).json()
        item = products["points_products"][0]
        if olo:
            assert reward["olo_uid"] == listed["olo_uid"] == f"thanx-{reward['id']}"
            assert item["olo_uid"] == f"thanx-{product.id}"
        else:
            assert "olo_uid" not in reward
            assert "olo_uid" not in listed
            assert "olo_uid" not in item


async def test_concurrent_activations_never_share_a_pool_code(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """Eight members activate rewards of one pool template at once; the pool holds five codes:
    five activations get five different codes, three are refused, no code is claimed twice."""
    database = Database.from_engine(create_engine(fresh_db_url))
    settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
    transport = httpx.ASGITransport(app=create_app(settings, database=database))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://race") as race:
            async with database.write_sessions() as setup, setup.begin():
                factory = Factory(setup)
                merchant = await factory.merchant()
                cred = await factory.partner([merchant])
                template = await coupon_template(setup, merchant, uses_dynamic_coupon_codes=True)
                await template_service.add_coupon_codes(
                    setup, template_id=template.id, codes=[f"C{i}" for i in range(5)]
                )
                members = []
                for _ in range(8):
                    user, _ = await factory.member(merchant)
                    members.append((user, await reward_of(setup, user, merchant, template)))
            calls = []
            for user, reward in members:
                bearer = await bearer_for(race, cred, merchant, user)
                calls.append(race.patch(f"/rewards/{reward.id}/activate", headers=bearer))
            responses = await asyncio.gather(*calls)
        ok = [r.json()["reward"]["coupon_code"]["code"] for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code != 200]
        assert len(ok) == len(set(ok)) == 5, [r.text for r in responses]
        assert all(r.json()["error"]["code"] == "COUPON_CODES_EXHAUSTED" for r in refused)
        async with database.read_sessions() as check:
            claimed = await check.scalar(
                select(func.count(func.distinct(CouponCode.reward_id))).where(
                    CouponCode.reward_id.is_not(None)
                )
            )
        assert claimed == 5
    finally:
        await database.dispose()


async def test_operators_fill_a_pool_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    merchant = await cli.json(
        "admin", "merchant", "create", "--name", "Fry Shop", "--handle", "fries", "--olo-integrated"
    )
    assert merchant["olo_integrated"] is True
    template = await cli.json(
        "admin", "template", "create", "--merchant", merchant["id"], "--name", "Free Fries",
        "--dynamic-coupon-codes",
    )  # fmt: skip
    assert template["uses_dynamic_coupon_codes"] is True
    codes = tmp_path / "codes.txt"
    codes.write_text("F-1\nF-2\n\nF-3\n")
    added = await cli.json(
        "admin", "template", "coupon-codes", "--template", template["id"],
        "--file", str(codes), "--code", "F-4", "--code", "F-1",
    )  # fmt: skip
    assert added["added"] == 4
