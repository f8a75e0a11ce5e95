"""POST /partner/oauth/token (CONTRACT row 13)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.kit.time import utcnow
from thanx_server.models import EndUserToken, Merchant, User


@pytest.fixture
async def setup(factory: Factory) -> tuple[Credential, Merchant, User]:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant, email="jane.smith@example.com", phone="+14158672345")
    cred = await factory.partner([merchant], scopes=["auth.create"])
    return cred, merchant, user


async def mint(client: httpx.AsyncClient, cred: Credential, **body: object) -> httpx.Response:
    return await client.post("/partner/oauth/token", json=body, headers=cred.headers())


@pytest.mark.parametrize(
    "identifier",
    [
        {"email": "Jane.Smith@Example.com"},
        {"phone": "+1 (415) 867-2345"},
        {"user_id": None},  # filled with the user's id below
        {"email": "jane.smith@example.com", "phone": "+14158672345"},
    ],
)
async def test_token_is_minted_for_a_member_by_any_identifier(
    client: httpx.AsyncClient,
    setup: tuple[Credential, Merchant, User],
    session: AsyncSession,
    identifier: dict[str, str | None],
) -> None:
    cred, merchant, user = setup
    body = {k: (v if v is not None else user.id) for k, v in identifier.items()}

    response = await mint(client, cred, merchant_id=merchant.id, expires_in=600, **body)

    assert response.status_code == 200, response.text
    token = response.json()
    assert set(token) == {"access_token", "token_type", "scope", "created_at", "expires_in"}
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "passwordless"
    assert token["expires_in"] == 600
    assert abs(token["created_at"] - utcnow().timestamp()) < 60
    stored = (await session.scalars(select(EndUserToken))).all()
    assert [row.user_id for row in stored] == [user.id]
    # Only the digest is at rest.
    assert stored[0].token_hash == hashlib.sha256(token["access_token"].encode()).hexdigest()
    assert token["access_token"] not in {stored[0].token_hash, stored[0].id}


async def test_token_without_expires_in_does_not_expire_by_default(
    client: httpx.AsyncClient, setup: tuple[Credential, Merchant, User], session: AsyncSession
) -> None:
    cred, merchant, user = setup
    token = (await mint(client, cred, merchant_id=merchant.id, user_id=user.id)).json()
    assert "expires_in" not in token
    assert (await session.scalar(select(EndUserToken.expires_at))) is None


async def test_configured_default_ttl_applies_when_expires_in_is_omitted(
    app: object, client: httpx.AsyncClient, setup: tuple[Credential, Merchant, User]
) -> None:
    cred, merchant, user = setup
    app.state.settings.token_default_ttl = timedelta(minutes=15)  # type: ignore[attr-defined]
    token = (await mint(client, cred, merchant_id=merchant.id, user_id=user.id)).json()
    assert token["expires_in"] == 900


@pytest.mark.parametrize("expires_in", [1, 59, 3601, -5])
async def test_expires_in_out_of_range_is_400(
    client: httpx.AsyncClient, setup: tuple[Credential, Merchant, User], expires_in: int
) -> None:
    cred, merchant, user = setup
    response = await mint(
        client, cred, merchant_id=merchant.id, user_id=user.id, expires_in=expires_in
    )
    assert_error(response, 400, "VALIDATION_FAILED")
    assert "expires_in" in response.json()["error"]["message"]


async def test_no_identifier_is_400(
    client: httpx.AsyncClient, setup: tuple[Credential, Merchant, User]
) -> None:
    cred, merchant, _ = setup
    response = await mint(client, cred, merchant_id=merchant.id)
    assert_error(response, 400, "VALIDATION_FAILED")
    assert "user_id" in response.json()["error"]["message"]


async def test_missing_merchant_id_is_400(
    client: httpx.AsyncClient, setup: tuple[Credential, Merchant, User]
) -> None:
    cred, _, user = setup
    response = await mint(client, cred, user_id=user.id)
    assert_error(response, 400, "VALIDATION_FAILED")
    assert "merchant_id" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "identifier",
    [
        {"email": "nobody@example.com"},
        {"phone": "4158672345"},  # no country code: parsed as nothing, as in Thanx
        {"user_id": "doesnotexist"},
        {"email": "jane.smith@example.com", "phone": "+14155550000"},  # two different people
    ],
)
async def test_unknown_user_is_404(
    client: httpx.AsyncClient, setup: tuple[Credential, Merchant, User], identifier: dict[str, str]
) -> None:
    cred, merchant, _ = setup
    response = await mint(client, cred, merchant_id=merchant.id, **identifier)
    assert_error(response, 404, "RESOURCE_NOT_FOUND")
    assert response.json()["error"]["message"] == "Unknown user"


async def test_member_of_another_merchant_only_is_unknown(
    client: httpx.AsyncClient, factory: Factory, setup: tuple[Credential, Merchant, User]
) -> None:
    cred, merchant, _ = setup
    elsewhere = await factory.merchant()
    outsider, _ = await factory.member(elsewhere)
    response = await mint(client, cred, merchant_id=merchant.id, user_id=outsider.id)
    assert_error(response, 404, "RESOURCE_NOT_FOUND")


async def test_merchant_outside_credential_is_403(
    client: httpx.AsyncClient, factory: Factory, setup: tuple[Credential, Merchant, User]
) -> None:
    cred, _, user = setup
    other = await factory.merchant()
    assert_error(await mint(client, cred, merchant_id=other.id, user_id=user.id), 403, "FORBIDDEN")


async def test_token_needs_auth_create_scope(
    client: httpx.AsyncClient, factory: Factory, setup: tuple[Credential, Merchant, User]
) -> None:
    _, merchant, user = setup
    reader = await factory.partner([merchant], scopes=["users.read"])
    response = await mint(client, reader, merchant_id=merchant.id, user_id=user.id)
    assert_error(response, 403, "FORBIDDEN")


async def test_minted_token_works_until_it_expires(
    client: httpx.AsyncClient, setup: tuple[Credential, Merchant, User], session: AsyncSession
) -> None:
    cred, merchant, user = setup
    token = (
        await mint(client, cred, merchant_id=merchant.id, user_id=user.id, expires_in=60)
    ).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}

    assert (await client.get("/rewards", headers=bearer)).status_code == 200

    await session.execute(update(EndUserToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_error(await client.get("/rewards", headers=bearer), 401, "AUTHENTICATION_GENERIC")


async def test_each_call_mints_a_distinct_token(
    client: httpx.AsyncClient, setup: tuple[Credential, Merchant, User]
) -> None:
    cred, merchant, user = setup
    first = (await mint(client, cred, merchant_id=merchant.id, user_id=user.id)).json()
    second = (await mint(client, cred, merchant_id=merchant.id, user_id=user.id)).json()
    assert first["access_token"] != second["access_token"]


async def test_a_cached_end_user_token_still_expires(session: AsyncSession) -> None:
    """The token cache may skip the lookup, never the expiry check."""
    from thanx_server.auth.tokens import UserPrincipal, UserTokenCache, authenticate_user
    from thanx_server.kit.errors import AuthenticationFailed
    from thanx_server.kit.ids import hash_secret

    cache = UserTokenCache(ttl=60)
    cache.put(
        hash_secret("cached-token"),
        UserPrincipal("t1", "u1", "m1", expires_at=utcnow() - timedelta(seconds=1)),
    )
    with pytest.raises(AuthenticationFailed):
        await authenticate_user(session, "cached-token", cache)
    # An unexpired cached principal answers without a lookup (there is no such row).
    cache.put(hash_secret("fresh"), UserPrincipal("t2", "u2", "m2", expires_at=None))
    assert (await authenticate_user(session, "fresh", cache)).user_id == "u2"
