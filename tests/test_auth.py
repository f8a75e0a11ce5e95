"""The partner auth matrix (CONTRACT rows 3-6): every failure has its status and envelope."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Credential, Factory, assert_error
from thanx_server.auth.dependencies import PartnerAuth
from thanx_server.auth.scopes import Scope
from thanx_server.auth.service import PartnerPrincipal
from thanx_server.partner import service as partner_service


@pytest.fixture
async def cred(factory: Factory) -> Credential:
    merchant = await factory.merchant()
    return await factory.partner([merchant], scopes=["users.read"])


async def test_valid_credential_is_accepted(client: httpx.AsyncClient, cred: Credential) -> None:
    assert (await client.get("/partner/merchants", headers=cred.headers())).status_code == 200


async def test_no_token_is_401(client: httpx.AsyncClient, cred: Credential) -> None:
    headers = cred.headers()
    del headers["Authorization"]
    assert_error(
        await client.get("/partner/merchants", headers=headers), 401, "AUTHENTICATION_GENERIC"
    )


async def test_no_client_id_is_401(client: httpx.AsyncClient, cred: Credential) -> None:
    headers = cred.headers()
    del headers["X-ClientId"]
    assert_error(
        await client.get("/partner/merchants", headers=headers), 401, "AUTHENTICATION_GENERIC"
    )


async def test_wrong_client_id_is_401(client: httpx.AsyncClient, cred: Credential) -> None:
    headers = cred.headers(**{"X-ClientId": "nosuchclient"})
    assert_error(
        await client.get("/partner/merchants", headers=headers), 401, "AUTHENTICATION_GENERIC"
    )


async def test_wrong_token_is_401(client: httpx.AsyncClient, cred: Credential) -> None:
    headers = cred.headers(Authorization="Bearer " + "0" * 64)
    assert_error(
        await client.get("/partner/merchants", headers=headers), 401, "AUTHENTICATION_GENERIC"
    )


async def test_token_of_another_client_is_401(
    client: httpx.AsyncClient, cred: Credential, factory: Factory
) -> None:
    other = await factory.partner([await factory.merchant()])
    headers = cred.headers(**{"X-ClientId": other.client_id})
    assert_error(
        await client.get("/partner/merchants", headers=headers), 401, "AUTHENTICATION_GENERIC"
    )


async def test_non_bearer_scheme_is_401(client: httpx.AsyncClient, cred: Credential) -> None:
    headers = cred.headers(Authorization=f"Basic {cred.access_token}")
    assert_error(
        await client.get("/partner/merchants", headers=headers), 401, "AUTHENTICATION_GENERIC"
    )


async def test_revoked_credential_is_401(
    client: httpx.AsyncClient, cred: Credential, session: AsyncSession
) -> None:
    await partner_service.revoke_credential(session, client_id=cred.client_id)
    assert_error(
        await client.get("/partner/merchants", headers=cred.headers()),
        401,
        "AUTHENTICATION_GENERIC",
    )


async def test_unsupported_accept_version_is_400_naming_the_version(
    client: httpx.AsyncClient, cred: Credential
) -> None:
    response = await client.get(
        "/partner/merchants", headers=cred.headers(**{"Accept-Version": "v3.0"})
    )
    assert_error(response, 400, "BAD_REQUEST")
    assert "v4.0" in response.json()["error"]["message"]


async def test_accept_version_may_be_omitted(client: httpx.AsyncClient, cred: Credential) -> None:
    headers = cred.headers()
    del headers["Accept-Version"]
    assert (await client.get("/partner/merchants", headers=headers)).status_code == 200


async def test_merchant_outside_the_credential_is_403(
    client: httpx.AsyncClient, cred: Credential, factory: Factory
) -> None:
    stranger = await factory.merchant()
    response = await client.get(
        "/partner/locations", params={"merchant_id": stranger.id}, headers=cred.headers()
    )
    assert_error(response, 403, "FORBIDDEN")
    assert "merchant_id" in response.json()["error"]["message"]


async def test_unknown_merchant_is_403_not_404(client: httpx.AsyncClient, cred: Credential) -> None:
    """Existence of merchants outside the credential is never revealed."""
    response = await client.get(
        "/partner/locations", params={"merchant_id": "doesnotexist"}, headers=cred.headers()
    )
    assert_error(response, 403, "FORBIDDEN")


@pytest.fixture
async def scoped_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus one route needing users.read or communication_settings.read."""
    router = APIRouter()

    @router.get("/partner/_scoped")
    async def scoped(
        principal: Annotated[
            PartnerPrincipal,
            Depends(PartnerAuth(Scope.USERS_READ, Scope.COMMUNICATION_SETTINGS_READ)),
        ],
    ) -> dict[str, str]:
        return {"client_id": principal.client_id}

    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_missing_scope_is_403(scoped_client: httpx.AsyncClient, factory: Factory) -> None:
    cred = await factory.partner([await factory.merchant()], scopes=["tags.read"])
    response = await scoped_client.get("/partner/_scoped", headers=cred.headers())
    assert_error(response, 403, "FORBIDDEN")
    assert "users.read" in response.json()["error"]["message"]


@pytest.mark.parametrize("scope", ["users.read", "communication_settings.read"])
async def test_either_of_two_scopes_suffices(
    scoped_client: httpx.AsyncClient, factory: Factory, scope: str
) -> None:
    cred = await factory.partner([await factory.merchant()], scopes=[scope])
    response = await scoped_client.get("/partner/_scoped", headers=cred.headers())
    assert response.status_code == 200
    assert response.json() == {"client_id": cred.client_id}


async def test_unknown_route_is_404_in_the_envelope(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/partner/nothing-here"), 404, "RESOURCE_NOT_FOUND")


async def test_wrong_method_is_405_in_the_envelope(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/partner/merchants"), 405, "METHOD_NOT_ALLOWED")


async def test_validation_error_is_400_naming_the_field(
    client: httpx.AsyncClient, cred: Credential
) -> None:
    response = await client.get(
        "/partner/locations", params={"per_page": "lots"}, headers=cred.headers()
    )
    assert_error(response, 400, "VALIDATION_FAILED")
    assert "per_page" in response.json()["error"]["message"]


async def test_revoked_credential_stops_working_within_the_cache_bound(
    app: FastAPI, client: httpx.AsyncClient, cred: Credential, session: AsyncSession
) -> None:
    from thanx_server.auth.service import CredentialCache

    bound = 1.0
    app.state.credential_cache = CredentialCache(bound)
    assert (await client.get("/partner/merchants", headers=cred.headers())).status_code == 200

    await partner_service.revoke_credential(session, client_id=cred.client_id)
    # Within the bound the remembered credential may still answer; past it, never.
    await asyncio.sleep(bound + 0.1)

    assert_error(
        await client.get("/partner/merchants", headers=cred.headers()),
        401,
        "AUTHENTICATION_GENERIC",
    )


async def test_cache_never_accepts_a_wrong_token_for_a_cached_client(
    app: FastAPI, client: httpx.AsyncClient, cred: Credential
) -> None:
    from thanx_server.auth.service import CredentialCache

    app.state.credential_cache = CredentialCache(60)
    assert (await client.get("/partner/merchants", headers=cred.headers())).status_code == 200
    wrong = cred.headers(Authorization="Bearer " + "f" * 64)
    assert_error(
        await client.get("/partner/merchants", headers=wrong), 401, "AUTHENTICATION_GENERIC"
    )
