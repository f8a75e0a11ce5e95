"""End-user tokens and the credential that minted them (issue 12, Security).

* a token stops working once its minting credential is revoked, within the credential cache
  bound (``THANX_AUTH_CACHE_SECONDS``), as the credential itself does;
* ``thanx-server admin token revoke`` by user, by credential, or both;
* consumer calls spend the minting credential's rate-limit budget (limits are per client id).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.cli import Cli
from tests.factories import Credential, Factory, assert_error
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.models import Merchant, User
from thanx_server.partner import service as partner_service
from thanx_server.settings import Settings


@pytest.fixture
async def member(factory: Factory) -> tuple[Merchant, User]:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    return merchant, user


async def mint(
    client: httpx.AsyncClient, cred: Credential, merchant: Merchant, user: User
) -> dict[str, str]:
    response = await client.post(
        "/partner/oauth/token",
        json={"merchant_id": merchant.id, "user_id": user.id},
        headers=cred.headers(),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_token_dies_with_its_credential_at_once_without_a_cache(
    client: httpx.AsyncClient, factory: Factory, member: tuple[Merchant, User]
) -> None:
    merchant, user = member
    cred = await factory.partner([merchant])
    other = await factory.partner([merchant])
    token = await mint(client, cred, merchant, user)
    kept = await mint(client, other, merchant, user)
    assert (await client.get("/rewards", headers=token)).status_code == 200

    await partner_service.revoke_credential(factory.session, client_id=cred.client_id)

    assert_error(await client.get("/rewards", headers=token), 401, "AUTHENTICATION_GENERIC")
    # A token minted by another credential for the same user is untouched.
    assert (await client.get("/rewards", headers=kept)).status_code == 200


@pytest.fixture
async def cached_client(database: Database, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path, rate_limit_enabled=False, embedded_worker=False, auth_cache_seconds=0.5
    )
    app = create_app(settings, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


async def test_a_token_dies_with_its_credential_within_the_cache_bound(
    cached_client: httpx.AsyncClient, factory: Factory, member: tuple[Merchant, User]
) -> None:
    merchant, user = member
    cred = await factory.partner([merchant])
    token = await mint(cached_client, cred, merchant, user)
    assert (await cached_client.get("/rewards", headers=token)).status_code == 200

    await partner_service.revoke_credential(factory.session, client_id=cred.client_id)
    await asyncio.sleep(0.6)  # past THANX_AUTH_CACHE_SECONDS

    response = await cached_client.get("/rewards", headers=token)
    assert_error(response, 401, "AUTHENTICATION_GENERIC")


async def test_consumer_calls_spend_the_minting_credentials_budget(
    database: Database, tmp_path: Path, factory: Factory, member: tuple[Merchant, User]
) -> None:
    merchant, user = member
    cred = await factory.partner([merchant])
    settings = Settings(
        data_dir=tmp_path,
        embedded_worker=False,
        auth_cache_seconds=0,
        rate_limit_per_second=1000,
        rate_limit_per_15_minutes=4,
        # The journal's flusher would write on the test's one connection from another task.
        journal_enabled=False,
    )
    app = create_app(settings, database=database)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        token = await mint(client, cred, merchant, user)  # 1 of 4
        codes = [(await client.get("/rewards", headers=token)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = await client.get("/rewards", headers=token)
        assert_error(refused, 429, "RATE_LIMITED")
        assert refused.headers["Retry-After"].isdigit()
        # One budget: the partner's own calls are refused too.
        partner = await client.get("/partner/merchants", headers=cred.headers())
        assert_error(partner, 429, "RATE_LIMITED")


async def _mint_via_cli(cli: Cli) -> tuple[dict[str, str], str, str, str]:
    merchant = await cli.json("admin", "merchant", "create", "--name", "Rev", "--handle", "rev")
    user = await cli.json(
        "admin", "user", "create", "--merchant", merchant["id"], "--email", "r@example.com"
    )
    partner = await cli.json(
        "admin",
        "partner",
        "create",
        "--name",
        "P",
        "--scope",
        "auth.create",
        "--merchant",
        merchant["id"],
    )
    headers = {
        "Authorization": f"Bearer {partner['access_token']}",
        "X-ClientId": partner["client_id"],
    }
    return headers, merchant["id"], user["id"], partner["client_id"]


async def _consumer_token(
    client: httpx.AsyncClient, headers: dict[str, str], merchant_id: str, user_id: str
) -> dict[str, str]:
    response = await client.post(
        "/partner/oauth/token",
        json={"merchant_id": merchant_id, "user_id": user_id},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def unlimited_client(fresh_db_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app over the CLI's database, without rate limits (this file spends many calls)."""
    database = Database.from_engine(create_engine(fresh_db_url))
    settings = Settings(data_dir=tmp_path, auth_cache_seconds=0, rate_limit_enabled=False)
    app = create_app(settings, database=database)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            yield client
    finally:
        await database.dispose()


@pytest.mark.parametrize("by", ["user", "client-id", "both"])
async def test_admin_token_revoke_ends_the_tokens_it_names(
    cli: Cli, unlimited_client: httpx.AsyncClient, by: str
) -> None:
    cli_client = unlimited_client
    headers, merchant_id, user_id, client_id = await _mint_via_cli(cli)
    tokens = [await _consumer_token(cli_client, headers, merchant_id, user_id) for _ in range(2)]
    for token in tokens:
        assert (await cli_client.get("/rewards", headers=token)).status_code == 200

    args = {
        "user": ["--user", user_id],
        "client-id": ["--client-id", client_id],
        "both": ["--user", user_id, "--client-id", client_id],
    }[by]
    revoked = await cli.json("admin", "token", "revoke", *args)

    assert revoked["count"] == 2
    for token in tokens:
        assert (await cli_client.get("/rewards", headers=token)).status_code == 401
    # The credential itself still works, and mints working tokens.
    fresh = await _consumer_token(cli_client, headers, merchant_id, user_id)
    assert (await cli_client.get("/rewards", headers=fresh)).status_code == 200
    again = await cli.json("admin", "token", "revoke", *args)
    assert again["count"] == 1


async def test_admin_token_revoke_needs_a_target_and_a_known_credential(cli: Cli) -> None:
    nothing = await cli("admin", "token", "revoke", ok=False)
    assert nothing.exit_code == 1
    assert "--user" in nothing.stderr
    unknown = await cli("admin", "token", "revoke", "--client-id", "nope", ok=False)
    assert unknown.exit_code == 1
    assert "no credential 'nope'" in unknown.stderr


async def test_a_partner_with_no_scope_is_created_and_reads_metadata_only(
    cli: Cli, cli_client: httpx.AsyncClient
) -> None:
    merchant = await cli.json("admin", "merchant", "create", "--name", "Meta", "--handle", "meta")
    partner = await cli.json(
        "admin", "partner", "create", "--name", "M", "--merchant", merchant["id"]
    )
    assert partner["scopes"] == []
    headers = {
        "Authorization": f"Bearer {partner['access_token']}",
        "X-ClientId": partner["client_id"],
    }
    assert (await cli_client.get("/partner/merchants", headers=headers)).status_code == 200
    assert (await cli_client.get("/partner/scopes", headers=headers)).json() == {"scopes": []}
    users = await cli_client.get("/partner/users", headers=headers)
    assert_error(users, 403, "FORBIDDEN")
