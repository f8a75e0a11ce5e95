"""GET/PATCH /partner/users: visibility, filters, the user object, updates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.models import Merchant, User


async def test_list_shows_only_members_of_the_credentials_merchants(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine, other = await factory.merchant(), await factory.merchant()
    member, _ = await factory.member(mine, email="Jane@Example.com", first_name="Jane")
    stranger, _ = await factory.member(other)
    cred = await factory.partner([mine], scopes=["users.read"])

    response = await client.get("/partner/users", headers=cred.headers())

    assert response.status_code == 200
    body = response.json()
    assert [u["id"] for u in body["users"]] == [member.id]
    user = body["users"][0]
    assert user["email"] == "jane@example.com"
    assert user["first_name"] == "Jane"
    assert set(user) == {
        "id", "email", "phone", "first_name", "last_name", "birth_date", "zip_code", "updated_at",
    }  # fmt: skip
    assert user["updated_at"].endswith("Z")
    assert body["pagination"] == {"current_page": 1, "per_page": 10, "total_pages": 1}
    assert stranger.id not in response.text


async def test_list_filters_by_merchant_and_refuses_a_foreign_merchant(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a, b, foreign = await factory.merchant(), await factory.merchant(), await factory.merchant()
    at_a, _ = await factory.member(a)
    at_b, _ = await factory.member(b)
    cred = await factory.partner([a, b], scopes=["users.read"])

    every = await client.get("/partner/users", headers=cred.headers())
    only_b = await client.get(
        "/partner/users", params={"merchant_id": b.id}, headers=cred.headers()
    )
    refused = await client.get(
        "/partner/users", params={"merchant_id": foreign.id}, headers=cred.headers()
    )

    assert {u["id"] for u in every.json()["users"]} == {at_a.id, at_b.id}
    assert [u["id"] for u in only_b.json()["users"]] == [at_b.id]
    assert_error(refused, 403, "FORBIDDEN", "merchant_id")


async def test_a_member_of_two_merchants_is_listed_once(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a, b = await factory.merchant(), await factory.merchant()
    user, _ = await factory.member(a)
    await factory.member(b, email=user.email, phone=user.phone)
    cred = await factory.partner([a, b], scopes=["users.read"])

    body = (await client.get("/partner/users", headers=cred.headers())).json()

    assert [u["id"] for u in body["users"]] == [user.id]


async def test_list_is_newest_first_and_paginated(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    base = datetime(2025, 1, 1, tzinfo=UTC)
    users = []
    for n in range(3):
        user, _ = await factory.member(merchant)
        await factory.set_user_times(user, created_at=base + timedelta(days=n))
        users.append(user)
    cred = await factory.partner([merchant], scopes=["users.read"])

    first = await client.get("/partner/users", params={"per_page": 2}, headers=cred.headers())
    second = await client.get(
        "/partner/users", params={"per_page": 2, "page": 2}, headers=cred.headers()
    )

    assert [u["id"] for u in first.json()["users"]] == [users[2].id, users[1].id]
    assert [u["id"] for u in second.json()["users"]] == [users[0].id]
    assert first.json()["pagination"] == {"current_page": 1, "per_page": 2, "total_pages": 2}


async def test_email_filter_is_case_insensitive_exact(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    jane, _ = await factory.member(merchant, email="jane.doe@example.com")
    await factory.member(merchant, email="jane.doe2@example.com")
    cred = await factory.partner([merchant], scopes=["users.read"])

    found = await client.get(
        "/partner/users", params={"email": "  Jane.DOE@Example.COM "}, headers=cred.headers()
    )
    none = await client.get(
        "/partner/users", params={"email": "jane@example.com"}, headers=cred.headers()
    )

    assert [u["id"] for u in found.json()["users"]] == [jane.id]
    assert none.status_code == 200
    assert none.json()["users"] == []


async def test_phone_filter_matches_after_normalisation(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant, phone="+14155551212")
    await factory.member(merchant, phone="+14155551213")
    cred = await factory.partner([merchant], scopes=["users.read"])

    response = await client.get(
        "/partner/users", params={"phone": "+1 (415) 555-1212"}, headers=cred.headers()
    )

    assert [u["id"] for u in response.json()["users"]] == [user.id]
    assert response.json()["users"][0]["phone"] == "+14155551212"


@pytest.mark.parametrize(
    ("param", "value", "code"),
    [
        ("email", "not-an-email", "USER_EMAIL_INVALID"),
        ("phone", "4155551212", "USER_PHONE_INVALID"),
        ("phone", "+1 555", "USER_PHONE_INVALID"),
        ("updated_after", "yesterday", "VALIDATION_FAILED"),
        ("include_loyalty_attributes", "maybe", "VALIDATION_FAILED"),
        ("per_page", "101", "VALIDATION_FAILED"),
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(
    client: httpx.AsyncClient, factory: Factory, param: str, value: str, code: str
) -> None:
    merchant = await factory.merchant()
    cred = await factory.partner([merchant], scopes=["users.read"])

    response = await client.get("/partner/users", params={param: value}, headers=cred.headers())

    assert_error(response, 400, code, param)


async def test_updated_after_and_before_are_exclusive_bounds(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    t = datetime(2025, 6, 1, tzinfo=UTC)
    old, _ = await factory.member(merchant)
    mid, _ = await factory.member(merchant)
    new, _ = await factory.member(merchant)
    await factory.set_user_times(old, updated_at=t - timedelta(days=1))
    await factory.set_user_times(mid, updated_at=t)
    await factory.set_user_times(new, updated_at=t + timedelta(days=1))
    cred = await factory.partner([merchant], scopes=["users.read"])

    async def ids(**params: str) -> set[str]:
        response = await client.get("/partner/users", params=params, headers=cred.headers())
        assert response.status_code == 200, response.text
        return {u["id"] for u in response.json()["users"]}

    assert await ids(updated_after="2025-06-01T00:00:00Z") == {new.id}
    assert await ids(updated_before="2025-06-01T00:00:00Z") == {old.id}
    assert await ids(
        updated_after="2025-05-31T12:00:00Z", updated_before="2025-06-01T12:00:00+00:00"
    ) == {mid.id}
    # Without an offset an instant is read as UTC.
    assert await ids(updated_after="2025-06-01T00:00:00") == {new.id}
    inverted = await client.get(
        "/partner/users",
        params={"updated_after": "2025-06-02T00:00:00Z", "updated_before": "2025-06-01T00:00:00Z"},
        headers=cred.headers(),
    )
    assert_error(inverted, 400, "VALIDATION_FAILED", "updated_before")


async def test_loyalty_and_settings_appear_when_asked_for(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    _, membership = await factory.member(merchant, tier="gold")
    membership.points_balance = Decimal("120.50")
    await session.flush()
    cred = await factory.partner([merchant], scopes=["users.read"])

    plain = (await client.get("/partner/users", headers=cred.headers())).json()["users"][0]
    full = (
        await client.get(
            "/partner/users",
            params={"include_loyalty_attributes": "true", "include_communication_settings": "1"},
            headers=cred.headers(),
        )
    ).json()["users"][0]

    assert "loyalty" not in plain
    assert "communication_settings" not in plain
    assert full["loyalty"]["tier"] == "gold"
    assert full["loyalty"]["points_balance"] == 120.5
    assert full["loyalty"]["merchant_id"] == merchant.id
    assert full["loyalty"]["user_joined_at"].endswith("Z")
    assert full["communication_settings"] == {"marketing_general_email": True}


async def test_get_one_user_always_carries_loyalty_and_settings(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant, first_name="Jane", last_name="Smith")
    user.birth_date = date(1990, 8, 14)
    user.zip_code = "94105"
    await session.flush()
    cred = await factory.partner([merchant], scopes=["users.read"])

    response = await client.get(f"/partner/users/{user.id}", headers=cred.headers())

    assert response.status_code == 200
    body = response.json()["user"]
    assert body["id"] == user.id
    assert body["birth_date"] == {"year": 1990, "month": 8, "day": 14}
    assert body["zip_code"] == "94105"
    assert body["loyalty"]["tier"] == "bronze"
    assert body["communication_settings"] == {"marketing_general_email": True}


async def member_of_two(
    factory: Factory, session: AsyncSession
) -> tuple[Merchant, Merchant, User, Credential]:
    """Merchants a and b, a user who joined b (gold, 2024) before a (silver, 2025), and a
    users.read credential for both."""
    a, b = await factory.merchant(), await factory.merchant()
    user, at_b = await factory.member(b, tier="gold")
    _, at_a = await factory.member(a, email=user.email, phone=user.phone, tier="silver")
    at_b.joined_at = datetime(2024, 1, 1, tzinfo=UTC)
    at_a.joined_at = datetime(2025, 1, 1, tzinfo=UTC)
    await session.flush()
    return a, b, user, await factory.partner([a, b], scopes=["users.read"])


async def test_loyalty_without_merchant_id_is_that_of_the_first_joined_merchant(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    a, b, user, cred = await member_of_two(factory, session)

    unnamed = await client.get(f"/partner/users/{user.id}", headers=cred.headers())
    named = await client.get(
        f"/partner/users/{user.id}", params={"merchant_id": a.id}, headers=cred.headers()
    )

    assert unnamed.json()["user"]["loyalty"]["merchant_id"] == b.id
    assert unnamed.json()["user"]["loyalty"]["tier"] == "gold"
    assert named.json()["user"]["loyalty"]["merchant_id"] == a.id
    assert named.json()["user"]["loyalty"]["tier"] == "silver"


async def test_user_of_another_merchant_is_404_even_by_id(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine, other = await factory.merchant(), await factory.merchant()
    await factory.member(mine)
    stranger, _ = await factory.member(other)
    cred = await factory.partner([mine], scopes=["users.read", "users.write"])

    read = await client.get(f"/partner/users/{stranger.id}", headers=cred.headers())
    unknown = await client.get("/partner/users/doesnotexist", headers=cred.headers())
    write = await client.patch(
        f"/partner/users/{stranger.id}",
        json={"user": {"first_name": "X"}},
        headers=cred.headers(),
    )

    assert_error(read, 404, "RESOURCE_NOT_FOUND")
    assert_error(unknown, 404, "RESOURCE_NOT_FOUND")
    assert_error(write, 404, "RESOURCE_NOT_FOUND")
    assert read.json() == unknown.json()


async def test_a_member_seen_through_another_merchant_of_the_credential_is_404_when_narrowed(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    a, b = await factory.merchant(), await factory.merchant()
    user, _ = await factory.member(a)
    cred = await factory.partner([a, b], scopes=["users.read"])

    response = await client.get(
        f"/partner/users/{user.id}", params={"merchant_id": b.id}, headers=cred.headers()
    )

    assert_error(response, 404, "RESOURCE_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/partner/users"), ("GET", "/partner/users/x"), ("PATCH", "/partner/users/x")],
)
async def test_users_endpoints_need_their_scope(
    client: httpx.AsyncClient, factory: Factory, method: str, path: str
) -> None:
    merchant = await factory.merchant()
    needed = "users.write" if method == "PATCH" else "users.read"
    others = [
        "users.read", "users.write", "communication_settings.read",
        "communication_settings.write", "tags.read",
    ]  # fmt: skip
    cred = await factory.partner([merchant], scopes=[s for s in others if s != needed])

    response = await client.request(
        method, path, json={"user": {}} if method == "PATCH" else None, headers=cred.headers()
    )

    assert_error(response, 403, "FORBIDDEN", needed)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_update_user_changes_the_fields_sent_and_keeps_the_rest(
    client: httpx.AsyncClient, factory: Factory, method: str
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant, first_name="Jane", last_name="Smith")
    cred = await factory.partner([merchant], scopes=["users.write", "users.read"])

    response = await client.request(
        method,
        f"/partner/users/{user.id}",
        json={
            "user": {
                "email": " Jane.New@Example.COM",
                "phone": "+1 (415) 555-9999",
                "last_name": "Doe",
                "birth_date": {"year": 1990, "month": 2, "day": 28},
                "zip_code": "94110",
            }
        },
        headers=cred.headers(),
    )
    again = await client.get(f"/partner/users/{user.id}", headers=cred.headers())

    assert response.status_code == 200, response.text
    body = response.json()["user"]
    assert body["email"] == "jane.new@example.com"
    assert body["phone"] == "+14155559999"
    assert body["first_name"] == "Jane"
    assert body["last_name"] == "Doe"
    assert body["birth_date"] == {"year": 1990, "month": 2, "day": 28}
    assert body["zip_code"] == "94110"
    assert again.json()["user"] == body


async def test_update_user_null_clears_a_field(client: httpx.AsyncClient, factory: Factory) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant, first_name="Jane")
    cred = await factory.partner([merchant], scopes=["users.write"])

    response = await client.patch(
        f"/partner/users/{user.id}", json={"user": {"first_name": None}}, headers=cred.headers()
    )

    # Cleared: absent, since the seed types first_name as a plain string (docs/DECISIONS.md).
    assert "first_name" not in response.json()["user"]


@pytest.mark.parametrize("field", ["email", "phone"])
async def test_update_user_refuses_an_identifier_another_user_holds(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession, field: str
) -> None:
    merchant, elsewhere = await factory.merchant(), await factory.merchant()
    user, _ = await factory.member(merchant, email="me@example.com", phone="+14155550001")
    # The holder is a member of another merchant only: identifiers are unique server-wide.
    await factory.member(elsewhere, email="taken@example.com", phone="+14155550002")
    cred = await factory.partner([merchant], scopes=["users.write"])
    value = "TAKEN@example.com" if field == "email" else "+1 415-555-0002"

    response = await client.patch(
        f"/partner/users/{user.id}",
        json={"user": {field: value, "first_name": "Changed"}},
        headers=cred.headers(),
    )

    assert_error(response, 400, "VALIDATION_FAILED", f"user.{field}")
    stored = await session.scalar(select(User).where(User.id == user.id))
    assert stored is not None
    await session.refresh(stored)
    assert stored.first_name != "Changed"
    assert (stored.email, stored.phone) == ("me@example.com", "+14155550001")


@pytest.mark.parametrize(
    ("payload", "code", "names"),
    [
        ({"user": {"email": "nope"}}, "USER_EMAIL_INVALID", "user.email"),
        ({"user": {"phone": "555-1212"}}, "USER_PHONE_INVALID", "user.phone"),
        ({"user": {"birth_date": {"year": 1990, "month": 2, "day": 30}}}, "VALIDATION_FAILED",
         "user.birth_date"),
        ({"user": {"birth_date": {"month": 2, "day": 3}}}, "VALIDATION_FAILED",
         "user.birth_date.year"),
        ({"user": {"birth_date": {"year": 2999, "month": 1, "day": 1}}}, "VALIDATION_FAILED",
         "user.birth_date"),
        ({"user": {"first_name": 7}}, "VALIDATION_FAILED", "user.first_name"),
        ({"user": {"zip_code": "1" * 21}}, "VALIDATION_FAILED", "user.zip_code"),
        ({"user": {"email": None, "phone": None}}, "VALIDATION_FAILED", "user.email"),
        ({}, "VALIDATION_FAILED", "user"),
    ],
)  # fmt: skip
async def test_update_user_bad_input_is_400_naming_the_field(
    client: httpx.AsyncClient, factory: Factory, payload: dict[str, object], code: str, names: str
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=["users.write"])

    response = await client.patch(f"/partner/users/{user.id}", json=payload, headers=cred.headers())

    assert_error(response, 400, code, names)


@pytest.mark.parametrize(
    ("birth_date", "field"),
    [
        ({"year": 2**70, "month": 1, "day": 1}, "birth_date.year"),  # once a 500 (found by fuzzing)
        ({"year": 1990, "month": 13, "day": 1}, "birth_date.month"),
        ({"year": 1990, "month": 2, "day": 30}, "birth_date"),
    ],
)
async def test_update_user_with_an_impossible_birth_date_is_400_naming_it(
    client: httpx.AsyncClient, factory: Factory, birth_date: dict[str, int], field: str
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    cred = await factory.partner([merchant], scopes=["users.write", "users.read"])

    response = await client.patch(
        f"/partner/users/{user.id}",
        json={"user": {"birth_date": birth_date}},
        headers=cred.headers(),
    )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    assert field in response.json()["error"]["message"]
    after = await client.get(f"/partner/users/{user.id}", headers=cred.headers())
    assert after.json()["user"]["birth_date"] is None


async def test_lookup_by_email_shows_the_first_joined_membership_and_pages_like_a_list(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    a, _b, user, cred = await member_of_two(factory, session)
    params = {"email": user.email, "include_loyalty_attributes": "true"}

    first = await client.get("/partner/users", params=params, headers=cred.headers())
    second = await client.get(
        "/partner/users", params={**params, "page": 2}, headers=cred.headers()
    )
    only_a = await client.get(
        "/partner/users", params={**params, "merchant_id": a.id}, headers=cred.headers()
    )
    later = await client.get(
        "/partner/users",
        params={**params, "updated_after": "2999-01-01T00:00:00Z"},
        headers=cred.headers(),
    )

    assert [u["loyalty"]["tier"] for u in first.json()["users"]] == ["gold"]
    assert first.json()["pagination"] == {"current_page": 1, "per_page": 10, "total_pages": 1}
    assert second.json()["users"] == []
    assert second.json()["pagination"]["total_pages"] == 1
    assert [u["loyalty"]["tier"] for u in only_a.json()["users"]] == ["silver"]
    assert later.json()["users"] == []
    assert later.json()["pagination"]["total_pages"] == 0
