"""GET/PATCH /partner/users/{id}/communication_settings (and the unprefixed docs path)."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import Factory, assert_error

PATHS = ["/partner/users/{id}/communication_settings", "/users/{id}/communication_settings"]
ALL_ON = {
    "reward_progress": {"email": True},
    "reward_offer": {"notification": True, "email": True},
    "marketing_general": {"email": True},
}


def channels(body: dict[str, object]) -> dict[str, object]:
    return {k: body[k] for k in ("reward_progress", "reward_offer", "marketing_general")}


@pytest.mark.parametrize("path", PATHS)
async def test_a_new_member_has_every_channel_on(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=["users.read"])

    response = await client.get(path.format(id=user.id), headers=cred.headers())

    assert response.status_code == 200, response.text
    setting = response.json()["communication_setting"]
    assert channels(setting) == ALL_ON
    assert setting["user_id"] == user.id
    assert setting["merchant_id"] == merchant.id
    assert isinstance(setting["id"], str)
    assert setting["id"]


@pytest.mark.parametrize("path", PATHS)
async def test_patch_changes_only_the_channels_sent(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=["users.read", "users.write"])
    url = path.format(id=user.id)

    before = (await client.get(url, headers=cred.headers())).json()["communication_setting"]
    first = await client.patch(
        url,
        params={"merchant_id": merchant.id},
        json={"communication_setting": {"reward_offer": {"email": False}}},
        headers=cred.headers(),
    )
    second = await client.patch(
        url,
        json={"communication_setting": {"marketing_general": {"email": False}}},
        headers=cred.headers(),
    )
    after = (await client.get(url, headers=cred.headers())).json()["communication_setting"]

    assert first.status_code == 200, first.text
    assert channels(first.json()["communication_setting"]) == {
        **ALL_ON,
        "reward_offer": {"notification": True, "email": False},
    }
    expected = {
        "reward_progress": {"email": True},
        "reward_offer": {"notification": True, "email": False},
        "marketing_general": {"email": False},
    }
    assert channels(second.json()["communication_setting"]) == expected
    assert channels(after) == expected
    assert after["id"] == before["id"]


async def test_settings_are_per_merchant(client: httpx.AsyncClient, factory: Factory) -> None:
    a, b = await factory.merchant(), await factory.merchant()
    user, _ = await factory.member(a)
    await factory.member(b, email=user.email, phone=user.phone)
    cred = await factory.partner([a, b], scopes=["users.read", "users.write"])
    url = f"/partner/users/{user.id}/communication_settings"

    await client.patch(
        url,
        params={"merchant_id": a.id},
        json={"communication_setting": {"reward_progress": {"email": False}}},
        headers=cred.headers(),
    )
    at_a = await client.get(url, params={"merchant_id": a.id}, headers=cred.headers())
    at_b = await client.get(url, params={"merchant_id": b.id}, headers=cred.headers())
    unnamed = await client.get(url, headers=cred.headers())

    assert at_a.json()["communication_setting"]["reward_progress"] == {"email": False}
    assert at_b.json()["communication_setting"]["reward_progress"] == {"email": True}
    # A member of several of the credential's merchants: the merchant must be named.
    assert_error(unnamed, 400, "VALIDATION_FAILED", "merchant_id")


async def test_merchant_id_may_travel_in_the_body(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a, b = await factory.merchant(), await factory.merchant()
    user, _ = await factory.member(a)
    await factory.member(b, email=user.email, phone=user.phone)
    cred = await factory.partner([a, b], scopes=["communication_settings.write"])
    url = f"/users/{user.id}/communication_settings"

    ok = await client.patch(
        url,
        json={
            "merchant_id": b.id,
            "communication_setting": {"reward_offer": {"notification": False}},
        },
        headers=cred.headers(),
    )
    conflicting = await client.patch(
        url,
        params={"merchant_id": a.id},
        json={"merchant_id": b.id, "communication_setting": {}},
        headers=cred.headers(),
    )

    assert ok.json()["communication_setting"]["merchant_id"] == b.id
    assert ok.json()["communication_setting"]["reward_offer"]["notification"] is False
    assert_error(conflicting, 400, "VALIDATION_FAILED", "merchant_id")


async def test_marketing_email_setting_shows_on_the_user(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=["users.read", "users.write"])

    await client.patch(
        f"/partner/users/{user.id}/communication_settings",
        json={"communication_setting": {"marketing_general": {"email": False}}},
        headers=cred.headers(),
    )
    listed = await client.get(
        "/partner/users", params={"include_communication_settings": "true"}, headers=cred.headers()
    )

    assert listed.json()["users"][0]["communication_settings"] == {"marketing_general_email": False}


@pytest.mark.parametrize("path", PATHS)
async def test_settings_of_another_merchants_user_are_404(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    mine, other = await factory.merchant(), await factory.merchant()
    stranger, _ = await factory.member(other)
    cred = await factory.partner([mine], scopes=["users.read", "users.write"])
    url = path.format(id=stranger.id)

    read = await client.get(url, headers=cred.headers())
    write = await client.patch(
        url,
        json={"communication_setting": {"marketing_general": {"email": False}}},
        headers=cred.headers(),
    )
    foreign_merchant = await client.get(
        url, params={"merchant_id": other.id}, headers=cred.headers()
    )

    assert_error(read, 404, "RESOURCE_NOT_FOUND")
    assert_error(write, 404, "RESOURCE_NOT_FOUND")
    assert_error(foreign_merchant, 403, "FORBIDDEN", "merchant_id")


@pytest.mark.parametrize("scope", ["users.read", "communication_settings.read"])
async def test_either_read_scope_suffices_to_read(
    client: httpx.AsyncClient, factory: Factory, scope: str
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=[scope])

    response = await client.get(
        f"/partner/users/{user.id}/communication_settings", headers=cred.headers()
    )

    assert response.status_code == 200


@pytest.mark.parametrize("scope", ["users.write", "communication_settings.write"])
async def test_either_write_scope_suffices_to_update(
    client: httpx.AsyncClient, factory: Factory, scope: str
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=[scope])

    response = await client.patch(
        f"/users/{user.id}/communication_settings",
        json={"communication_setting": {"reward_progress": {"email": False}}},
        headers=cred.headers(),
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "scopes"),
    [
        ("GET", ["users.write", "communication_settings.write", "tags.read"]),
        ("PATCH", ["users.read", "communication_settings.read", "tags.write"]),
    ],
)
async def test_settings_without_a_fitting_scope_are_403(
    client: httpx.AsyncClient, factory: Factory, method: str, scopes: list[str]
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=scopes)

    response = await client.request(
        method,
        f"/partner/users/{user.id}/communication_settings",
        json={"communication_setting": {}} if method == "PATCH" else None,
        headers=cred.headers(),
    )

    assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        ({"communication_setting": {"reward_offer": {"email": "no"}}}, "reward_offer.email"),
        ({"communication_setting": {"marketing_general": {"email": 0}}}, "marketing_general.email"),
        ({"communication_setting": {"reward_progress": True}}, "reward_progress"),
        ({"reward_offer": {"email": False}}, "communication_setting"),
    ],
)
async def test_bad_settings_are_400_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, factory: Factory, payload: dict[str, object], names: str
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=["users.read", "users.write"])
    url = f"/partner/users/{user.id}/communication_settings"

    response = await client.patch(url, json=payload, headers=cred.headers())
    after = await client.get(url, headers=cred.headers())

    assert_error(response, 400, "VALIDATION_FAILED", names)
    assert channels(after.json()["communication_setting"]) == ALL_ON
