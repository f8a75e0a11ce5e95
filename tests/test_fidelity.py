"""Divergences from the reference an audit found (issue 12, Fidelity), each checked against the
reference's own words rather than the implementation's.

* reward ``redeem.venue`` is ``instore | online | all`` (reference C.1), for rewards built the
  way the server builds them (a template made by the service, then issue/grant);
* the docs' curl example responds to feedback at ``/feedbacks/{id}/response`` (B.6.2);
* granting into an ended campaign answers as issuing does: 422 ``INVALID_STATE`` (CONTRACT 12);
* a member's ``updated_at`` moves whenever anything the user resource shows changes (points,
  communication settings), so ``updated_after`` syncs see it (B.4.1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.factories import Credential, Factory, assert_error
from thanx_server.kit.time import isoformat_z, utcnow
from thanx_server.models import Merchant, User


@pytest.fixture
async def merchant(factory: Factory) -> Merchant:
    return await factory.merchant()


@pytest.fixture
async def member(factory: Factory, merchant: Merchant) -> User:
    return (await factory.member(merchant))[0]


@pytest.fixture
async def cred(factory: Factory, merchant: Merchant) -> Credential:
    return await factory.partner([merchant])


async def user_token(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, user: User
) -> dict[str, str]:
    minted = await client.post(
        "/partner/oauth/token",
        json={"merchant_id": merchant.id, "user_id": user.id},
        headers=cred.headers(),
    )
    assert minted.status_code == 200, minted.text
    return {"Authorization": f"Bearer {minted.json()['access_token']}"}


@pytest.mark.parametrize("given", ["instore", "in_store", "online", "all"])
async def test_reward_venue_is_a_documented_value_end_to_end(
    client: httpx.AsyncClient,
    factory: Factory,
    merchant: Merchant,
    member: User,
    cred: Credential,
    given: str,
) -> None:
    documented = {"instore", "online", "all"}
    template = await factory.template(merchant, redemption_venue=given)
    campaign = await factory.campaign(merchant, template=template, control=False)
    bearer = await user_token(client, cred, merchant, member)

    granted = await client.post(
        "/rewards/grant", json={"campaign_id": campaign.campaign.id}, headers=bearer
    )
    assert granted.status_code == 201, granted.text
    venue = granted.json()["reward"]["redeem"]["venue"]
    assert venue in documented
    assert venue == ("instore" if given == "in_store" else given)
    listed = await client.get("/rewards", headers=bearer)
    assert [r["redeem"]["venue"] for r in listed.json()["rewards"]] == [venue]
    shown = await client.get(
        f"/partner/reward_templates/{template.id}",
        params={"merchant_id": merchant.id},
        headers=cred.headers(),
    )
    assert shown.json()["reward_template"]["redemption_venue"] == venue


async def test_an_unknown_venue_is_refused_naming_the_field(
    factory: Factory, merchant: Merchant
) -> None:
    from thanx_server.kit.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="redemption_venue: must be one of all, instore"):
        await factory.template(merchant, redemption_venue="drive_thru")


async def test_the_docs_example_path_responds_to_feedback(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, member: User, cred: Credential
) -> None:
    feedback_id = await factory.feedback(merchant, member, "rated")
    response = await client.post(
        f"/feedbacks/{feedback_id}/response",
        json={"feedback": {"response": "Thanks for coming in!"}},
        headers=cred.headers(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["feedback"]["response"] == "Thanks for coming in!"
    # Same rules as the documented route: one response only, and a credential is needed.
    again = await client.post(
        f"/feedbacks/{feedback_id}/response",
        json={"feedback": {"response": "Again"}},
        headers=cred.headers(),
    )
    assert_error(again, 422, "INVALID_STATE")
    anonymous = await client.post(
        f"/feedbacks/{feedback_id}/response", json={"feedback": {"response": "x"}}
    )
    assert anonymous.status_code == 401


async def test_granting_into_an_ended_campaign_is_invalid_state_like_issuing(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, member: User, cred: Credential
) -> None:
    now = datetime.now(UTC)
    ended = await factory.campaign(
        merchant, control=False, start_at=now - timedelta(days=10), end_at=now - timedelta(days=1)
    )
    bearer = await user_token(client, cred, merchant, member)

    granted = await client.post(
        "/rewards/grant", json={"campaign_id": ended.campaign.id}, headers=bearer
    )
    issued = await client.post(
        "/partner/campaigns/issue",
        json={
            "merchant_id": merchant.id,
            "campaign_id": ended.campaign.id,
            "variant_id": ended.variants[0].id,
            "identifiers": [{"type": "email", "value": member.email}],
        },
        headers=cred.headers(),
    )

    assert_error(issued, 422, "INVALID_STATE", "campaign_id")
    assert_error(granted, 422, "INVALID_STATE", "campaign_id")
    listed = await client.get("/rewards", headers=bearer)
    assert listed.json()["rewards"] == []


async def _updated_at(client: httpx.AsyncClient, cred: Credential, user: User) -> str:
    response = await client.get(f"/partner/users/{user.id}", headers=cred.headers())
    assert response.status_code == 200, response.text
    value: str = response.json()["user"]["updated_at"]
    return value


async def _synced_ids(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, since: str
) -> list[str]:
    response = await client.get(
        "/partner/users",
        params={"merchant_id": merchant.id, "updated_after": since},
        headers=cred.headers(),
    )
    assert response.status_code == 200, response.text
    return [u["id"] for u in response.json()["users"]]


async def test_points_move_a_members_updated_at_and_updated_after_sees_it(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, member: User, cred: Credential
) -> None:
    await factory.set_user_times(member, updated_at=utcnow() - timedelta(days=2))
    since = isoformat_z(utcnow() - timedelta(days=1))
    assert await _synced_ids(client, cred, merchant, since) == []

    purchase = await client.post(
        "/purchases",
        json={"purchase": {"merchant_id": merchant.id, "user_id": member.id, "amount": 20,
                           "purchased_at": isoformat_z(utcnow())}},
        headers=cred.headers(),
    )  # fmt: skip
    assert purchase.status_code == 201, purchase.text

    assert await _synced_ids(client, cred, merchant, since) == [member.id]
    assert await _updated_at(client, cred, member) > since


async def test_communication_settings_move_a_members_updated_at(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, member: User, cred: Credential
) -> None:
    await factory.set_user_times(member, updated_at=utcnow() - timedelta(days=2))
    since = isoformat_z(utcnow() - timedelta(days=1))
    assert await _synced_ids(client, cred, merchant, since) == []

    changed = await client.patch(
        f"/partner/users/{member.id}/communication_settings",
        json={"communication_setting": {"marketing_general": {"email": False}}},
        headers=cred.headers(),
    )
    assert changed.status_code == 200, changed.text

    assert await _synced_ids(client, cred, merchant, since) == [member.id]
    shown = await client.get(f"/partner/users/{member.id}", headers=cred.headers())
    assert shown.json()["user"]["communication_settings"] == {"marketing_general_email": False}
