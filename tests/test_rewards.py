"""Consumer API rewards (CONTRACT row 14, reference C)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import loyalty_factories as lf
from tests.factories import Credential, Factory, assert_error
from thanx_server.kit.time import utcnow
from thanx_server.models import Campaign, CampaignVariant, Merchant, RewardTemplate, User


@dataclass
class World:
    merchant: Merchant
    user: User
    cred: Credential
    template: RewardTemplate
    campaign: Campaign
    variant: CampaignVariant
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept-Version": "v4.0"}


async def token_for(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, user: User
) -> str:
    response = await client.post(
        "/partner/oauth/token",
        json={"merchant_id": merchant.id, "user_id": user.id},
        headers=cred.headers(),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory, session: AsyncSession) -> World:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant])
    tpl = await lf.template(session, merchant)
    camp, variant = await lf.campaign(session, merchant, tpl)
    return World(
        merchant, user, cred, tpl, camp, variant, await token_for(client, cred, merchant, user)
    )


async def test_list_shows_the_reward_in_the_documented_shape(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    reward = await lf.reward(session, world.user, world.campaign, world.template, world.variant)

    response = await client.get("/rewards", headers=world.bearer)

    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {
        "current_page": 1,
        "per_page": 10,
        "total_pages": 1,
        "total_page": 1,
    }
    [item] = body["rewards"]
    assert item["id"] == reward.id
    assert item["user_id"] == world.user.id
    assert item["merchant_id"] == world.merchant.id
    assert item["campaign_id"] == world.campaign.id
    assert item["state"] == "available"
    assert item["earn"] == {"type": "campaign"}
    assert item["redeem"] == {
        "type": "manual",
        "text": "Free coffee",
        "detail": "Any size",
        "window": 60,
        "venue": "instore",
    }
    assert item["coupon_code"] == {"code": None, "type": None, "display": None}
    assert item["fine_print"] == "Limit one per customer"  # the campaign's fine print wins
    assert item["instructions"] == "Ring up as a free drip coffee"
    assert item["images"]["index"] == {
        "small": "https://img.example/s.png",
        "large": "https://img.example/l.png",
    }
    assert item["images"]["advertising"] == {"small": None, "large": None}
    assert item["available_at"].endswith("Z")
    assert item["retire_at"] == world.campaign.redeemable_to.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert item["activated_at"] is None
    assert item["used_at"] is None


async def test_list_hides_other_users_revoked_and_retired_rewards(
    client: httpx.AsyncClient, world: World, session: AsyncSession, factory: Factory
) -> None:
    mine = await lf.reward(session, world.user, world.campaign, world.template, world.variant)
    other_user, _ = await factory.member(world.merchant)
    await lf.reward(session, other_user, world.campaign, world.template, world.variant)
    await lf.reward(
        session, world.user, world.campaign, world.template, world.variant, state="revoked"
    )
    await lf.reward(
        session, world.user, world.campaign, world.template, world.variant,
        retire_at=utcnow() - timedelta(minutes=1),
    )  # fmt: skip
    used_long_ago = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant,
        state="used", retire_at=utcnow() - timedelta(minutes=1),
    )  # fmt: skip

    body = (await client.get("/rewards", headers=world.bearer)).json()

    assert {r["id"] for r in body["rewards"]} == {mine.id, used_long_ago.id}


@pytest.mark.parametrize("style", ["brackets", "plain"])
async def test_states_filter_accepts_both_array_spellings(
    client: httpx.AsyncClient, world: World, session: AsyncSession, style: str
) -> None:
    await lf.reward(session, world.user, world.campaign, world.template, world.variant)
    active = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant, state="active"
    )
    used = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant, state="used"
    )
    key = "states[]" if style == "brackets" else "states"

    body = (
        await client.get("/rewards", params=[(key, "active"), (key, "used")], headers=world.bearer)
    ).json()

    assert {r["id"] for r in body["rewards"]} == {active.id, used.id}


async def test_unknown_state_is_400_naming_states(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/rewards", params={"states[]": "revoked"}, headers=world.bearer)
    assert_error(response, 400, "VALIDATION_FAILED")
    assert "states" in response.json()["error"]["message"]


async def test_token_user_wins_over_user_id_param(
    client: httpx.AsyncClient, world: World, session: AsyncSession, factory: Factory
) -> None:
    other, _ = await factory.member(world.merchant)
    theirs = await lf.reward(session, other, world.campaign, world.template, world.variant)
    mine = await lf.reward(session, world.user, world.campaign, world.template, world.variant)

    body = (await client.get("/rewards", params={"user_id": other.id}, headers=world.bearer)).json()

    assert [r["id"] for r in body["rewards"]] == [mine.id]
    assert theirs.id not in str(body)


async def test_user_token_is_limited_to_its_merchant(
    client: httpx.AsyncClient, world: World, factory: Factory
) -> None:
    other = await factory.merchant()
    response = await client.get("/rewards", params={"merchant_id": other.id}, headers=world.bearer)
    assert_error(response, 403, "FORBIDDEN")


async def test_list_is_newest_first_and_paginated(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    start = utcnow() - timedelta(hours=1)
    ids = [
        (await lf.reward(session, world.user, world.campaign, world.template, world.variant,
                         created_at=start + timedelta(minutes=i))).id
        for i in range(5)
    ]  # fmt: skip
    page2 = (
        await client.get("/rewards", params={"per_page": 2, "page": 2}, headers=world.bearer)
    ).json()
    assert [r["id"] for r in page2["rewards"]] == [ids[2], ids[1]]
    assert page2["pagination"]["total_pages"] == page2["pagination"]["total_page"] == 3


async def test_partner_with_rewards_issue_lists_a_users_rewards(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    reward = await lf.reward(session, world.user, world.campaign, world.template, world.variant)
    response = await client.get(
        "/rewards",
        params={"user_id": world.user.id, "merchant_id": world.merchant.id},
        headers=world.cred.headers(),
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["rewards"]] == [reward.id]


async def test_partner_listing_requires_user_id_and_scope(
    client: httpx.AsyncClient, world: World, factory: Factory
) -> None:
    no_user = await client.get("/rewards", headers=world.cred.headers())
    assert_error(no_user, 400, "VALIDATION_FAILED")
    assert "user_id" in no_user.json()["error"]["message"]

    reader = await factory.partner([world.merchant], scopes=["users.read"])
    response = await client.get(
        "/rewards", params={"user_id": world.user.id}, headers=reader.headers()
    )
    assert_error(response, 403, "FORBIDDEN")


async def test_missing_or_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/rewards"), 401, "AUTHENTICATION_GENERIC")
    assert_error(
        await client.get("/rewards", headers={"Authorization": "Bearer nope"}),
        401,
        "AUTHENTICATION_GENERIC",
    )


async def test_get_one_reward_is_limited_to_its_owner(
    client: httpx.AsyncClient, world: World, session: AsyncSession, factory: Factory
) -> None:
    mine = await lf.reward(session, world.user, world.campaign, world.template, world.variant)
    other, _ = await factory.member(world.merchant)
    theirs = await lf.reward(session, other, world.campaign, world.template, world.variant)
    revoked = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant, state="revoked"
    )

    ok = await client.get(f"/rewards/{mine.id}", headers=world.bearer)
    assert ok.status_code == 200
    assert ok.json()["reward"]["id"] == mine.id
    for hidden in (theirs.id, revoked.id, "nosuchreward"):
        assert_error(
            await client.get(f"/rewards/{hidden}", headers=world.bearer), 404, "RESOURCE_NOT_FOUND"
        )


async def test_activate_then_finalize(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    reward = await lf.reward(session, world.user, world.campaign, world.template, world.variant)

    activated = await client.patch(f"/rewards/{reward.id}/activate", headers=world.bearer)
    again = await client.patch(f"/rewards/{reward.id}/activate", headers=world.bearer)
    used = await client.patch(f"/rewards/{reward.id}/finalize", headers=world.bearer)

    assert activated.status_code == 200
    assert activated.json()["reward"]["state"] == "active"
    assert activated.json()["reward"]["activated_at"] is not None
    assert again.json()["reward"] == activated.json()["reward"]  # a retry changes nothing
    assert used.status_code == 200
    assert used.json()["reward"]["state"] == "used"
    assert used.json()["reward"]["used_at"] is not None
    listed = (
        await client.get("/rewards", params={"states[]": "used"}, headers=world.bearer)
    ).json()
    assert [r["id"] for r in listed["rewards"]] == [reward.id]


async def test_used_reward_cannot_be_activated_or_finalized(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    reward = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant, state="used"
    )
    for action in ("activate", "finalize"):
        assert_error(
            await client.patch(f"/rewards/{reward.id}/{action}", headers=world.bearer),
            400,
            "REWARD_ALREADY_USED",
        )


async def test_finalize_needs_an_active_reward(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    reward = await lf.reward(session, world.user, world.campaign, world.template, world.variant)
    assert_error(
        await client.patch(f"/rewards/{reward.id}/finalize", headers=world.bearer),
        400,
        "REWARD_NOT_ACTIVE",
    )


async def test_retired_reward_is_expired(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    reward = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant,
        retire_at=utcnow() - timedelta(seconds=1),
    )  # fmt: skip
    assert_error(
        await client.patch(f"/rewards/{reward.id}/activate", headers=world.bearer),
        400,
        "REWARD_EXPIRED",
    )
    assert_error(
        await client.patch(f"/rewards/{reward.id}/finalize", headers=world.bearer),
        400,
        "REWARD_EXPIRED",
    )
    assert_error(
        await client.get(f"/rewards/{reward.id}", headers=world.bearer), 404, "RESOURCE_NOT_FOUND"
    )


async def test_reward_before_its_redeemable_window_cannot_be_activated(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    reward = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant,
        available_at=utcnow() + timedelta(days=2),
    )  # fmt: skip
    assert_error(
        await client.patch(f"/rewards/{reward.id}/activate", headers=world.bearer),
        400,
        "REWARD_NOT_YET_AVAILABLE",
    )


async def test_finalize_after_the_redeem_window_is_expired(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    reward = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant,
        state="active", activated_at=utcnow() - timedelta(minutes=61),
    )  # fmt: skip
    assert_error(
        await client.patch(f"/rewards/{reward.id}/finalize", headers=world.bearer),
        400,
        "REWARD_EXPIRED",
    )


async def test_grant_gives_an_available_reward_in_the_sandbox(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        "/rewards/grant", json={"campaign_id": world.campaign.id}, headers=world.bearer
    )

    assert response.status_code == 201, response.text
    granted = response.json()["reward"]
    assert granted["state"] == "available"
    assert granted["user_id"] == world.user.id
    assert granted["earn"] == {"type": "grant"}
    listed = (await client.get("/rewards", headers=world.bearer)).json()
    assert [r["id"] for r in listed["rewards"]] == [granted["id"]]


async def test_grant_by_partner_needs_a_member(
    client: httpx.AsyncClient, world: World, factory: Factory
) -> None:
    outsider, _ = await factory.member(await factory.merchant())
    ok = await client.post(
        "/rewards/grant",
        json={"campaign_id": world.campaign.id, "user_id": world.user.id},
        headers=world.cred.headers(),
    )
    refused = await client.post(
        "/rewards/grant",
        json={"campaign_id": world.campaign.id, "user_id": outsider.id},
        headers=world.cred.headers(),
    )
    assert ok.status_code == 201
    assert_error(refused, 404, "RESOURCE_NOT_FOUND")


async def test_grant_of_another_merchants_campaign_is_404(
    client: httpx.AsyncClient, world: World, factory: Factory, session: AsyncSession
) -> None:
    other = await factory.merchant()
    tpl = await lf.template(session, other)
    camp, _ = await lf.campaign(session, other, tpl)
    response = await client.post(
        "/rewards/grant", json={"campaign_id": camp.id}, headers=world.bearer
    )
    assert_error(response, 404, "RESOURCE_NOT_FOUND")


async def test_grant_is_off_in_production(
    app: object, client: httpx.AsyncClient, world: World
) -> None:
    from thanx_server.settings import Environment

    app.state.settings.environment = Environment.PRODUCTION  # type: ignore[attr-defined]
    response = await client.post(
        "/rewards/grant", json={"campaign_id": world.campaign.id}, headers=world.bearer
    )
    assert_error(response, 404, "RESOURCE_NOT_FOUND")


# --- Update reward: the redemption location (issue 16, reference C.7) ---------------------------


async def test_update_sets_the_redemption_location_of_an_active_reward(
    client: httpx.AsyncClient, factory: Factory, world: World, session: AsyncSession
) -> None:
    location = await factory.location(world.merchant)
    reward = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant,
        state="active", activated_at=utcnow(),
    )  # fmt: skip
    response = await client.patch(
        f"/rewards/{reward.id}", json={"reward": {"location_id": location.id}}, headers=world.bearer
    )
    assert response.status_code == 200, response.text
    assert response.json()["reward"]["location_id"] == location.id
    assert response.json()["reward"]["state"] == "active"
    again = await client.get(f"/rewards/{reward.id}", headers=world.bearer)
    assert again.json()["reward"]["location_id"] == location.id


@pytest.mark.parametrize(
    ("state", "code"),
    [("available", "REWARD_NOT_ACTIVE"), ("used", "REWARD_ALREADY_USED")],
)
async def test_update_needs_an_active_reward(
    client: httpx.AsyncClient,
    factory: Factory,
    world: World,
    session: AsyncSession,
    state: str,
    code: str,
) -> None:
    location = await factory.location(world.merchant)
    reward = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant, state=state
    )
    response = await client.patch(
        f"/rewards/{reward.id}", json={"reward": {"location_id": location.id}}, headers=world.bearer
    )
    assert_error(response, 400, code)
    await session.refresh(reward)
    assert reward.location_id is None


async def test_update_of_a_retired_reward_is_expired(
    client: httpx.AsyncClient, factory: Factory, world: World, session: AsyncSession
) -> None:
    location = await factory.location(world.merchant)
    reward = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant,
        state="active", activated_at=utcnow(), retire_at=utcnow() - timedelta(seconds=1),
    )  # fmt: skip
    response = await client.patch(
        f"/rewards/{reward.id}", json={"reward": {"location_id": location.id}}, headers=world.bearer
    )
    assert_error(response, 400, "REWARD_EXPIRED")


async def test_update_refuses_another_merchants_location_and_bad_bodies(
    client: httpx.AsyncClient, factory: Factory, world: World, session: AsyncSession
) -> None:
    elsewhere = await factory.location(await factory.merchant())
    reward = await lf.reward(
        session, world.user, world.campaign, world.template, world.variant,
        state="active", activated_at=utcnow(),
    )  # fmt: skip
    path = f"/rewards/{reward.id}"
    assert_error(
        await client.patch(
            path, json={"reward": {"location_id": elsewhere.id}}, headers=world.bearer
        ),
        404, "RESOURCE_NOT_FOUND", "reward.location_id",
    )  # fmt: skip
    for bad in ({"reward": {}}, {"reward": {"location_id": 5}}, {"location": "x"}):
        assert_error(
            await client.patch(path, json=bad, headers=world.bearer), 400, "VALIDATION_FAILED"
        )
    assert_error(
        await client.patch(
            "/rewards/nosuchreward", json={"reward": {"location_id": elsewhere.id}},
            headers=world.bearer,
        ),
        404, "RESOURCE_NOT_FOUND",
    )  # fmt: skip


async def test_update_of_another_users_reward_is_404(
    client: httpx.AsyncClient, factory: Factory, world: World, session: AsyncSession
) -> None:
    other, _ = await factory.member(world.merchant)
    location = await factory.location(world.merchant)
    reward = await lf.reward(
        session, other, world.campaign, world.template, world.variant,
        state="active", activated_at=utcnow(),
    )  # fmt: skip
    response = await client.patch(
        f"/rewards/{reward.id}", json={"reward": {"location_id": location.id}}, headers=world.bearer
    )
    assert_error(response, 404, "RESOURCE_NOT_FOUND")
