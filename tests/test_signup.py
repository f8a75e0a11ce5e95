"""POST /users: the Consumer sign-up that makes a loyalty member (issue 16, reference B.2.1/B.3)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.models import CommunicationSetting, Membership, Merchant, User
from thanx_server.settings import Settings


@pytest.fixture
async def merchant(factory: Factory) -> Merchant:
    return await factory.merchant()


@pytest.fixture
async def cred(factory: Factory, merchant: Merchant) -> Credential:
    return await factory.partner([merchant], scopes=["users.write", "auth.create", "users.read"])


def signup(merchant: Merchant, **fields: Any) -> dict[str, Any]:
    user = {
        "email": "Jane.Smith@Example.com",
        "phone": "+1 (415) 867-2345",
        "first_name": "Jane",
        "last_name": "Smith",
        "birth_date": {"year": 1990, "month": 8, "day": 14},
        "zip_code": "94105",
        "accepted_terms": True,
        **fields,
    }
    return {"merchant_id": merchant.id, "user": {k: v for k, v in user.items() if v is not ...}}


async def count(session: AsyncSession, model: type[Any]) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_sign_up_enrols_a_member_at_the_starting_tier(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    response = await client.post("/users", json=signup(merchant), headers=cred.headers())

    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert user["email"] == "jane.smith@example.com"
    assert user["phone"] == "+14158672345"
    assert (user["first_name"], user["last_name"]) == ("Jane", "Smith")
    assert user["birth_date"] == {"year": 1990, "month": 8, "day": 14}
    assert user["loyalty"]["merchant_id"] == merchant.id
    assert user["loyalty"]["tier"] == "bronze"
    assert user["loyalty"]["points_balance"] == 0
    # No marketing consent sent: marketing email stays off.
    assert user["communication_settings"] == {"marketing_general_email": False}
    # The new member is a member for every other endpoint: the partner sees them...
    listed = await client.get(
        "/partner/users", params={"email": "jane.smith@example.com"}, headers=cred.headers()
    )
    assert [u["id"] for u in listed.json()["users"]] == [user["id"]]
    # ...and an end-user token can be minted for them.
    token = await client.post(
        "/partner/oauth/token",
        json={"merchant_id": merchant.id, "email": "jane.smith@example.com"},
        headers=cred.headers(),
    )
    assert token.status_code == 200, token.text


async def test_marketing_consent_turns_marketing_email_on(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    response = await client.post(
        "/users", json=signup(merchant, marketing_opt_in=True), headers=cred.headers()
    )
    assert response.status_code == 201, response.text
    row = await session.scalar(select(CommunicationSetting))
    assert row is not None
    assert row.marketing_general_email is True
    assert row.reward_offer_email is True


async def test_the_same_identity_again_answers_the_member_unchanged(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    first = await client.post("/users", json=signup(merchant), headers=cred.headers())
    again = await client.post(
        "/users",
        json=signup(merchant, email="JANE.smith@example.com", first_name="Janet"),
        headers=cred.headers(),
    )
    by_email_only = await client.post(
        "/users", json=signup(merchant, phone=None), headers=cred.headers()
    )
    assert first.status_code == 201
    assert again.status_code == by_email_only.status_code == 200, again.text
    assert again.json()["user"]["id"] == first.json()["user"]["id"]
    assert again.json()["user"]["first_name"] == "Jane"
    assert await count(session, User) == 1
    assert await count(session, Membership) == 1


async def test_a_user_of_another_merchant_is_enrolled_here(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant, session: AsyncSession
) -> None:
    elsewhere = await factory.merchant()
    existing, _ = await factory.member(elsewhere, email="jane.smith@example.com", phone=None)
    cred = await factory.partner([merchant], scopes=["users.write"])
    response = await client.post("/users", json=signup(merchant), headers=cred.headers())
    assert response.status_code == 201, response.text
    assert response.json()["user"]["id"] == existing.id
    assert await count(session, Membership) == 2


@pytest.mark.parametrize(
    ("fields", "code", "names"),
    [
        ({"first_name": ...}, "USER_NAME_REQUIRED", "user.first_name"),
        ({"last_name": "   "}, "USER_NAME_REQUIRED", "user.last_name"),
        ({"email": ...}, "USER_EMAIL_INVALID", "user.email"),
        ({"email": "not-an-email"}, "USER_EMAIL_INVALID", "user.email"),
        ({"phone": "4158672345"}, "USER_PHONE_INVALID", "user.phone"),
        ({"accepted_terms": ...}, "VALIDATION_FAILED", "user.accepted_terms"),
        ({"accepted_terms": False}, "VALIDATION_FAILED", "user.accepted_terms"),
        ({"birth_date": {"year": 2990, "month": 1, "day": 1}}, "VALIDATION_FAILED", "birth_date"),
        ({"birth_date": {"year": 1990, "month": 2, "day": 30}}, "VALIDATION_FAILED", "birth_date"),
        ({"first_name": 7}, "VALIDATION_FAILED", "user.first_name"),
        ({"marketing_opt_in": "yes"}, "VALIDATION_FAILED", "user.marketing_opt_in"),
    ],
)
async def test_invalid_sign_ups_are_400_naming_the_field_and_write_nothing(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    session: AsyncSession,
    fields: dict[str, Any],
    code: str,
    names: str,
) -> None:
    response = await client.post("/users", json=signup(merchant, **fields), headers=cred.headers())
    assert_error(response, 400, code, names)
    assert await count(session, User) == 0


async def test_an_identity_split_between_two_people_is_refused(
    client: httpx.AsyncClient, factory: Factory, cred: Credential, merchant: Merchant
) -> None:
    await factory.member(merchant, email="jane.smith@example.com", phone="+14155550000")
    await factory.member(merchant, email="other@example.com", phone="+14158672345")
    response = await client.post("/users", json=signup(merchant), headers=cred.headers())
    assert_error(response, 400, "VALIDATION_FAILED", "user.phone")
    other_phone = await client.post(
        "/users", json=signup(merchant, phone="+14155550001"), headers=cred.headers()
    )
    assert_error(other_phone, 400, "VALIDATION_FAILED", "user.phone")


async def test_scopes_and_merchant_are_enforced(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant
) -> None:
    reader = await factory.partner([merchant], scopes=["users.read"])
    response = await client.post("/users", json=signup(merchant), headers=reader.headers())
    assert_error(response, 403, "FORBIDDEN")
    token_minter = await factory.partner([merchant], scopes=["auth.create"])
    other = await factory.merchant()
    response = await client.post("/users", json=signup(other), headers=token_minter.headers())
    assert_error(response, 403, "FORBIDDEN")
    response = await client.post("/users", json=signup(merchant), headers=token_minter.headers())
    assert response.status_code == 201, response.text


async def test_sign_up_is_in_the_openapi_document_with_its_errors(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/users"]["post"]
    assert {"200", "201", "400", "401", "403"} <= set(operation["responses"])
    assert "USER_NAME_REQUIRED" in operation["responses"]["400"]["description"]


async def test_identical_sign_ups_racing_make_one_member(fresh_db_url: str, tmp_path: Path) -> None:
    database = Database.from_engine(create_engine(fresh_db_url))
    try:
        async with database.write_sessions() as setup, setup.begin():
            factory = Factory(setup)
            merchant = await factory.merchant()
            cred = await factory.partner([merchant], scopes=["users.write"])
        settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False)
        transport = httpx.ASGITransport(app=create_app(settings, database=database))
        async with httpx.AsyncClient(transport=transport, base_url="http://race") as race:
            responses = await asyncio.gather(
                *(race.post("/users", json=signup(merchant), headers=cred.headers())
                  for _ in range(5))
            )  # fmt: skip
        assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201], [
            r.text for r in responses
        ]
        assert len({r.json()["user"]["id"] for r in responses}) == 1
        async with database.read_sessions() as check:
            assert await count(check, User) == 1
            assert await count(check, Membership) == 1
    finally:
        await database.dispose()
