"""POST /partner/subscribers: an upsert that answers 201 for every valid email (CONTRACT row 15)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from tests.test_identifiers import EMAIL, email_variants
from thanx_server.domain.identifiers import normalize_email
from thanx_server.models import Membership, Merchant, Subscriber, User


@pytest.fixture
async def merchant(factory: Factory) -> Merchant:
    return await factory.merchant()


@pytest.fixture
async def cred(factory: Factory, merchant: Merchant) -> Credential:
    return await factory.partner([merchant], scopes=["subscribers.write", "users.read"])


async def subscribe(
    client: httpx.AsyncClient, cred: Credential, merchant_id: str, **subscriber: Any
) -> httpx.Response:
    return await client.post(
        "/partner/subscribers",
        json={"merchant_id": merchant_id, "subscriber": subscriber},
        headers=cred.headers(),
    )


async def stored(session: AsyncSession, merchant_id: str) -> list[Subscriber]:
    rows = await session.scalars(
        select(Subscriber)
        .where(Subscriber.merchant_id == merchant_id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def test_a_new_subscriber_is_201_and_only_the_email_is_echoed(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    response = await subscribe(
        client, cred, merchant.id,
        email="Jane.Smith@Example.com", first_name="Jane", last_name="Smith",
        birth_date={"month": 8, "day": 14}, zip_code="94105", gender="other",
    )  # fmt: skip

    assert response.status_code == 201, response.text
    assert response.json() == {"subscriber": {"email": "jane.smith@example.com"}}
    [row] = await stored(session, merchant.id)
    assert (row.email, row.first_name, row.last_name, row.zip_code) == (
        "jane.smith@example.com", "Jane", "Smith", "94105",
    )  # fmt: skip
    assert (row.birth_month, row.birth_day, row.birth_year) == (8, 14, None)


async def test_a_known_email_is_201_again_and_updates_only_the_fields_sent(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    await subscribe(
        client, cred, merchant.id, email="jane@example.com", first_name="Jane", zip_code="94105"
    )

    again = await subscribe(
        client, cred, merchant.id, email="JANE@example.com", last_name="Smith",
        birth_date={"month": 2, "day": 29, "year": 1992},
    )  # fmt: skip
    bare = await subscribe(client, cred, merchant.id, email="jane@example.com")

    assert again.status_code == 201
    assert again.json() == {"subscriber": {"email": "jane@example.com"}}
    assert bare.status_code == 201
    [row] = await stored(session, merchant.id)
    assert (row.first_name, row.last_name, row.zip_code) == ("Jane", "Smith", "94105")
    assert (row.birth_month, row.birth_day, row.birth_year) == (2, 29, 1992)


async def test_the_same_email_at_two_merchants_is_two_subscribers(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    a, b = await factory.merchant(), await factory.merchant()
    cred = await factory.partner([a, b], scopes=["subscribers.write"])

    await subscribe(client, cred, a.id, email="jane@example.com")
    await subscribe(client, cred, b.id, email="jane@example.com")

    assert len(await stored(session, a.id)) == 1
    assert len(await stored(session, b.id)) == 1


@pytest.mark.parametrize(
    "subscriber",
    [
        {"email": "not-an-email"},
        {"email": "jane@"},
        {"email": ""},
        {"email": "   "},
        {"email": 42},
        {"email": None},
        {"first_name": "Jane"},
        {"email": "x" * 400 + "@example.com"},
    ],
)
async def test_an_invalid_email_is_400_user_email_invalid_and_nothing_is_written(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    session: AsyncSession,
    subscriber: dict[str, Any],
) -> None:
    response = await subscribe(client, cred, merchant.id, **subscriber)

    assert_error(response, 400, "USER_EMAIL_INVALID", "subscriber.email")
    assert await stored(session, merchant.id) == []


@pytest.mark.parametrize(
    ("subscriber", "names"),
    [
        ({"birth_date": {"month": 13, "day": 1}}, "subscriber.birth_date.month"),
        ({"birth_date": {"month": 4, "day": 31}}, "subscriber.birth_date"),
        ({"birth_date": {"month": 2, "day": 29, "year": 2023}}, "subscriber.birth_date"),
        ({"birth_date": {"month": "8", "day": 14}}, "subscriber.birth_date.month"),
        ({"birth_date": {"day": 14}}, "subscriber.birth_date.month"),
        ({"first_name": ["Jane"]}, "subscriber.first_name"),
        ({"zip_code": "1" * 21}, "subscriber.zip_code"),
    ],
)
async def test_bad_optional_fields_are_400_naming_the_field(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    session: AsyncSession,
    subscriber: dict[str, Any],
    names: str,
) -> None:
    response = await subscribe(client, cred, merchant.id, email="jane@example.com", **subscriber)

    assert_error(response, 400, "VALIDATION_FAILED", names)
    assert await stored(session, merchant.id) == []


async def test_merchant_id_is_required_and_must_be_the_credentials(
    client: httpx.AsyncClient, cred: Credential, factory: Factory
) -> None:
    stranger = await factory.merchant()

    missing = await client.post(
        "/partner/subscribers",
        json={"subscriber": {"email": "jane@example.com"}},
        headers=cred.headers(),
    )
    foreign = await subscribe(client, cred, stranger.id, email="jane@example.com")

    assert_error(missing, 400, "VALIDATION_FAILED", "merchant_id")
    assert_error(foreign, 403, "FORBIDDEN", "merchant_id")


async def test_subscribing_needs_subscribers_write(
    client: httpx.AsyncClient, factory: Factory, merchant: Merchant
) -> None:
    cred = await factory.partner([merchant], scopes=["users.write", "users.read"])

    response = await subscribe(client, cred, merchant.id, email="jane@example.com")

    assert_error(response, 403, "FORBIDDEN", "subscribers.write")


async def test_a_subscriber_is_not_a_member(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, session: AsyncSession
) -> None:
    await subscribe(client, cred, merchant.id, email="jane@example.com")

    users = await client.get(
        "/partner/users", params={"email": "jane@example.com"}, headers=cred.headers()
    )

    assert users.json()["users"] == []
    assert await session.scalar(select(func.count()).select_from(User)) == 0
    assert await session.scalar(select(func.count()).select_from(Membership)) == 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(variant=email_variants())
async def test_one_person_written_differently_is_one_subscriber(
    client: httpx.AsyncClient,
    cred: Credential,
    merchant: Merchant,
    session: AsyncSession,
    variant: str,
) -> None:
    response = await subscribe(client, cred, merchant.id, email=variant)

    assert response.status_code == 201
    assert response.json() == {"subscriber": {"email": EMAIL}}
    assert [row.email for row in await stored(session, merchant.id)] == [EMAIL]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(value=["\x00"])  # NUL inside a list: the request guard answers (once flaky)
@example(value="a\x00@example.com")
@given(
    value=st.one_of(
        st.text(max_size=80),
        st.emails(),
        st.integers(),
        st.booleans(),
        st.none(),
        st.lists(st.text(max_size=5), max_size=2),
    )
)
async def test_any_email_value_is_201_or_400_never_a_500(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, value: object
) -> None:
    response = await subscribe(client, cred, merchant.id, email=value)

    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        # A NUL anywhere in a body (a string, or a string inside a list) is refused by the
        # request guard before the endpoint.
        nul = "\\u0000" in json.dumps(value)
        expected = {"USER_EMAIL_INVALID", "VALIDATION_FAILED"} if nul else {"USER_EMAIL_INVALID"}
        assert response.json()["error"]["code"] in expected, (value, response.text)
    else:
        assert response.json()["subscriber"]["email"] == normalize_email(str(value))
