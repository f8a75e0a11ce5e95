"""The request journal (issue 13, item 5): every Partner and Consumer API request, found and
counted by operation, status, credential and time; exported as JSON lines; bodies capped and
secrets redacted; bounded retention."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import Factory, OperatorCredentialHeaders, assert_error
from thanx_server.app import create_app
from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.kit.db import Database
from thanx_server.settings import Settings


@pytest.fixture
async def ops(factory: Factory) -> OperatorCredentialHeaders:
    return await factory.operator()


async def journal(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get("/sandbox/journal", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_requests_are_recorded_with_secrets_redacted(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    merchant = await factory.merchant()
    user, _ = await factory.member(merchant)
    partner = await factory.partner([merchant], scopes=ALL_SCOPES)
    listed = await client.get(
        "/partner/merchants", params={"merchant_id": merchant.id}, headers=partner.headers()
    )
    minted = await client.post(
        "/partner/oauth/token",
        json={"merchant_id": merchant.id, "user_id": user.id},
        headers=partner.headers(),
    )
    user_token = minted.json()["access_token"]
    rewards = await client.get("/rewards", headers={"Authorization": f"Bearer {user_token}"})
    assert rewards.status_code == 200
    unauthorized = await client.get("/partner/merchants")

    found = await journal(client, ops.headers())
    assert found["count"] == 4
    newest_first = found["entries"]
    assert [e["operation_id"] for e in newest_first] == [
        "getMerchants",
        "getRewards",
        "createPartnerOauthToken",
        "getMerchants",
    ] or [e["path"] for e in newest_first] == [
        "/partner/merchants",
        "/rewards",
        "/partner/oauth/token",
        "/partner/merchants",
    ]
    first = newest_first[-1]
    assert first["client_id"] == partner.client_id
    assert first["auth"] == "partner"
    assert first["status"] == 200
    assert first["method"] == "GET"
    assert first["query"] == f"merchant_id={merchant.id}"
    assert first["request_id"] == listed.headers["x-request-id"]
    assert first["duration_ms"] > 0
    assert newest_first[1]["auth"] == "user"
    assert newest_first[0]["status"] == 401
    assert unauthorized.status_code == 401

    export = await client.get("/sandbox/journal/export", headers=ops.headers())
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [line["id"] for line in lines] == sorted(e["id"] for e in newest_first)
    assert user_token not in export.text
    assert partner.access_token not in export.text
    [minting] = [line for line in lines if line["path"] == "/partner/oauth/token"]
    assert '"access_token":"[REDACTED]"' in minting["response_body"]


async def test_find_and_count_by_operation_status_credential_and_time(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    merchant = await factory.merchant()
    one = await factory.partner([merchant], scopes=[*ALL_SCOPES])
    two = await factory.partner([merchant], scopes=[*ALL_SCOPES])
    for _ in range(2):
        await client.get("/partner/merchants", headers=one.headers())
    await client.get("/partner/locations", headers=two.headers())
    await client.get("/partner/campaigns/nope", headers=two.headers())

    assert (await journal(client, ops.headers(), operation_id="getMerchants"))["count"] == 2
    assert (await journal(client, ops.headers(), status=404))["count"] == 1
    assert (await journal(client, ops.headers(), client_id=two.client_id))["count"] == 2
    everything = await journal(client, ops.headers())
    middle = sorted(e["at"] for e in everything["entries"])[1]
    assert (await journal(client, ops.headers(), since=middle))["count"] == 3
    assert (await journal(client, ops.headers(), until=middle))["count"] == 1
    assert (await journal(client, ops.headers(), limit=1))["count"] == 4
    assert len((await journal(client, ops.headers(), limit=1))["entries"]) == 1
    # A partner with the sandbox scope reads its own requests only.
    mine = await journal(client, one.headers())
    assert {e["client_id"] for e in mine["entries"]} == {one.client_id}
    assert_error(
        await client.get(
            "/sandbox/journal", params={"client_id": two.client_id}, headers=one.headers()
        ),
        403,
        "FORBIDDEN",
        "client_id",
    )
    assert_error(
        await client.get("/sandbox/journal", params={"status": 42}, headers=ops.headers()),
        400,
        "VALIDATION_FAILED",
        "status",
    )


async def test_retention_and_the_body_cap(
    database: Database, factory: Factory, tmp_path: Path
) -> None:
    ops = await factory.operator()
    merchant = await factory.merchant()
    partner = await factory.partner([merchant], scopes=[*ALL_SCOPES])
    app = create_app(
        Settings(
            data_dir=tmp_path,
            embedded_worker=False,
            rate_limit_enabled=False,
            auth_cache_seconds=0,
            journal_max_entries=3,
            journal_body_chars=20,
        ),
        database=database,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        for _ in range(5):
            await client.get("/partner/merchants", headers=partner.headers())
        found = await journal(client, ops.headers())
    assert found["count"] == 3
    body = found["entries"][0]["response_body"]
    assert body.startswith('{"merchants":')
    assert "more characters]" in body


async def test_the_journal_can_be_turned_off(
    database: Database, factory: Factory, tmp_path: Path
) -> None:
    ops = await factory.operator()
    app = create_app(
        Settings(data_dir=tmp_path, embedded_worker=False, journal_enabled=False),
        database=database,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        await client.get("/partner/merchants")
        assert (await journal(client, ops.headers()))["count"] == 0


async def test_the_cli_lists_and_exports_the_journal(
    cli: Any, cli_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await cli_client.get("/partner/merchants")
    await asyncio.sleep(0.6)  # past the flush interval: the next answer writes the batch
    await cli_client.get("/partner/locations")
    listed = await cli.json("sandbox", "journal", "list", "--status", "401")
    assert listed["count"] == 2
    target = tmp_path / "journal.jsonl"
    await cli("sandbox", "journal", "export", "-o", str(target))
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["path"] for line in lines] == ["/partner/merchants", "/partner/locations"]
