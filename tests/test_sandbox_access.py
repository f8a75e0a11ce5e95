"""Who may steer the sandbox: operator credentials, partners with the `sandbox` scope, and
nobody at all in production (issue 13, "Who may do what")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.cli_inprocess import run_cli, run_cli_json
from tests.factories import Factory, assert_error
from thanx_server.app import create_app
from thanx_server.auth.scopes import Scope
from thanx_server.kit.db import Database, create_engine
from thanx_server.kit.ids import hash_secret
from thanx_server.models import OperatorCredential
from thanx_server.settings import Environment, Settings


async def test_an_operator_steers_everything(client: httpx.AsyncClient, factory: Factory) -> None:
    operator = await factory.operator()
    response = await client.get("/sandbox/whoami", headers=operator.headers())
    assert response.status_code == 200, response.text
    assert response.json() == {
        "controller": {"kind": "operator", "client_id": operator.client_id, "merchant_ids": None}
    }


async def test_a_partner_with_the_sandbox_scope_steers_its_own_merchants(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine, _other = await factory.merchant(), await factory.merchant()
    partner = await factory.partner([mine], scopes=[Scope.SANDBOX, Scope.USERS_READ])
    response = await client.get("/sandbox/whoami", headers=partner.headers())
    assert response.status_code == 200, response.text
    assert response.json()["controller"] == {
        "kind": "partner",
        "client_id": partner.client_id,
        "merchant_ids": [mine.id],
    }


async def test_a_partner_without_the_sandbox_scope_is_forbidden(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    partner = await factory.partner([merchant], scopes=[Scope.USERS_READ])
    response = await client.get("/sandbox/whoami", headers=partner.headers())
    assert_error(response, 403, "FORBIDDEN", "sandbox")


@pytest.mark.parametrize("bad", ["token", "client", "missing", "revoked"])
async def test_bad_operator_credentials_are_401(
    client: httpx.AsyncClient, factory: Factory, bad: str
) -> None:
    operator = await factory.operator()
    headers = operator.headers()
    if bad == "token":
        headers["Authorization"] = "Bearer " + "0" * 64
    elif bad == "client":
        headers["X-ClientId"] = "nobody"
    elif bad == "missing":
        del headers["Authorization"]
    else:
        from thanx_server.operators import service

        await service.revoke_operator(factory.session, client_id=operator.client_id)
    response = await client.get("/sandbox/whoami", headers=headers)
    assert_error(response, 401, "AUTHENTICATION_GENERIC")


async def test_an_operator_is_no_partner(client: httpx.AsyncClient, factory: Factory) -> None:
    operator = await factory.operator()
    response = await client.get("/partner/merchants", headers=operator.headers())
    assert_error(response, 401, "AUTHENTICATION_GENERIC")


async def test_only_the_digest_of_an_operator_token_is_stored(factory: Factory) -> None:
    operator = await factory.operator()
    stored = (await factory.session.scalars(select(OperatorCredential))).one()
    assert stored.token_hash == hash_secret(operator.access_token)
    assert operator.access_token not in (stored.token_hash, stored.client_id, stored.name)


async def test_in_production_the_controls_do_not_exist(
    database: Database, factory: Factory, tmp_path: Path
) -> None:
    operator = await factory.operator()
    app = create_app(
        Settings(data_dir=tmp_path, environment=Environment.PRODUCTION, embedded_worker=False),
        database=database,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        with_credentials = await client.get("/sandbox/whoami", headers=operator.headers())
        without = await client.get("/sandbox/whoami")
    assert_error(with_credentials, 404, "RESOURCE_NOT_FOUND")
    assert_error(without, 404, "RESOURCE_NOT_FOUND")


async def test_the_openapi_document_tags_and_secures_the_controls(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/sandbox/whoami"]["get"]
    assert operation["tags"] == ["Sandbox"]
    assert {"operatorBearerAuth": [], "clientId": []} in operation["security"]
    assert {"bearerAuth": [], "clientId": []} in operation["security"]
    assert "operatorBearerAuth" in schema["components"]["securitySchemes"]


# --- the command line -------------------------------------------------------------------------


async def _live(db_url: str, data_dir: Path) -> tuple[httpx.AsyncClient, Database]:
    database = Database.from_engine(create_engine(db_url))
    app = create_app(
        Settings(data_dir=data_dir, auth_cache_seconds=0, embedded_worker=False), database=database
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    return client, database


async def test_operator_credentials_are_created_listed_and_revoked_from_the_cli(
    fresh_db_url: str, tmp_path: Path
) -> None:
    created = await run_cli_json(
        fresh_db_url, tmp_path, "admin", "operator", "create", "--name", "ci"
    )
    client, database = await _live(fresh_db_url, tmp_path)
    headers = {
        "Authorization": f"Bearer {created['access_token']}",
        "X-ClientId": created["client_id"],
    }
    try:
        assert (await client.get("/sandbox/whoami", headers=headers)).status_code == 200
        listed = await run_cli_json(fresh_db_url, tmp_path, "admin", "operator", "list")
        assert [(o["name"], o["client_id"], o["revoked_at"]) for o in listed] == [
            ("ci", created["client_id"], None)
        ]
        assert created["access_token"] not in str(listed)
        await run_cli_json(
            fresh_db_url,
            tmp_path,
            "admin",
            "operator",
            "revoke",
            "--client-id",
            created["client_id"],
        )
        assert (await client.get("/sandbox/whoami", headers=headers)).status_code == 401
    finally:
        await client.aclose()
        await database.dispose()
    missing = await run_cli(
        fresh_db_url, tmp_path, "admin", "operator", "revoke", "--client-id", "nope", ok=False
    )
    assert missing.exit_code == 1
    assert "nope" in missing.stderr


async def test_demo_prints_an_operator_that_steers_and_keeps_it(
    fresh_db_url: str, tmp_path: Path
) -> None:
    first: dict[str, Any] = await run_cli_json(fresh_db_url, tmp_path, "demo")
    second: dict[str, Any] = await run_cli_json(fresh_db_url, tmp_path, "demo")
    assert first["operator"] == second["operator"]
    assert second["created"] == 0
    client, database = await _live(fresh_db_url, tmp_path)
    operator = first["operator"]
    partner = {"Authorization": f"Bearer {first['access_token']}", "X-ClientId": first["client_id"]}
    try:
        as_operator = await client.get(
            "/sandbox/whoami",
            headers={
                "Authorization": f"Bearer {operator['access_token']}",
                "X-ClientId": operator["client_id"],
            },
        )
        as_partner = await client.get("/sandbox/whoami", headers=partner)
    finally:
        await client.aclose()
        await database.dispose()
    assert as_operator.json()["controller"]["kind"] == "operator"
    assert as_partner.json()["controller"]["kind"] == "partner"  # the demo partner has `sandbox`
    banner = await run_cli(fresh_db_url, tmp_path, "demo")
    assert operator["access_token"] in banner.stdout


async def test_sandbox_status_says_which_environment_it_is(
    fresh_db_url: str, tmp_path: Path
) -> None:
    sandbox = await run_cli_json(fresh_db_url, tmp_path, "sandbox", "status")
    production = await run_cli_json(
        fresh_db_url, tmp_path, "sandbox", "status", THANX_ENVIRONMENT="production"
    )
    assert (sandbox["environment"], sandbox["sandbox"]) == ("sandbox", True)
    assert (production["environment"], production["sandbox"]) == ("production", False)
