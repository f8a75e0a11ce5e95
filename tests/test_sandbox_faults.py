"""Fault rules (issue 13, item 4): the first N calls (or a seeded fraction) of an operation answer
with a chosen status and Thanx error in the contract's envelope, 429 with Retry-After included;
latency; a dropped connection; per credential or for everyone; hit counts readable."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.cli import Cli
from tests.factories import Credential, Factory, OperatorCredentialHeaders, assert_error
from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.models import Merchant


@pytest.fixture
async def ops(factory: Factory) -> OperatorCredentialHeaders:
    return await factory.operator()


@pytest.fixture
async def setup(factory: Factory) -> tuple[Merchant, Credential]:
    merchant = await factory.merchant()
    return merchant, await factory.partner([merchant], scopes=ALL_SCOPES)


async def add(client: httpx.AsyncClient, headers: dict[str, str], **rule: Any) -> dict[str, Any]:
    response = await client.post("/sandbox/faults", json=rule, headers=headers)
    assert response.status_code == 201, response.text
    fault: dict[str, Any] = response.json()["fault"]
    return fault


async def test_the_first_n_calls_get_a_429_with_retry_after_then_it_passes(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, setup: tuple[Merchant, Credential]
) -> None:
    _, partner = setup
    rule = await add(
        client, ops.headers(), operation_id="getMerchants", status=429, times=2, retry_after=7
    )
    for _ in range(2):
        response = await client.get("/partner/merchants", headers=partner.headers())
        assert_error(response, 429, "RATE_LIMITED")
        assert response.headers["retry-after"] == "7"
        assert response.headers["x-sandbox-fault"] == rule["id"]
        assert "x-sandbox-time" in response.headers
    assert (await client.get("/partner/merchants", headers=partner.headers())).status_code == 200
    [listed] = (await client.get("/sandbox/faults", headers=ops.headers())).json()["faults"]
    assert (listed["hits"], listed["seen"]) == (2, 3)


async def test_an_error_rule_answers_in_the_contracts_envelope_for_one_merchant_only(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, factory: Factory
) -> None:
    mine, other = await factory.merchant(), await factory.merchant()
    partner = await factory.partner([mine, other], scopes=ALL_SCOPES)
    await add(
        client,
        ops.headers(),
        operation_id="getMerchants",
        merchant_id=mine.id,
        status=503,
        code="SERVICE_UNAVAILABLE",
        message="merchant_id: the merchant's systems are down",
    )
    hit = await client.get(
        "/partner/merchants", params={"merchant_id": mine.id}, headers=partner.headers()
    )
    assert_error(hit, 503, "SERVICE_UNAVAILABLE", "merchant_id")
    assert "retry-after" not in hit.headers
    missed = await client.get(
        "/partner/merchants", params={"merchant_id": other.id}, headers=partner.headers()
    )
    assert missed.status_code == 200


async def test_a_merchant_in_the_json_body_is_matched(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, setup: tuple[Merchant, Credential]
) -> None:
    merchant, partner = setup
    await add(client, ops.headers(), operation_id="createSubscriber", merchant_id=merchant.id)
    response = await client.post(
        "/partner/subscribers",
        json={"merchant_id": merchant.id, "subscriber": {"email": "a@example.com"}},
        headers=partner.headers(),
    )
    assert_error(response, 500, "GENERIC_ERROR")


async def test_a_seeded_fraction_is_the_same_sequence_every_run(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, setup: tuple[Merchant, Credential]
) -> None:
    _, partner = setup

    async def run() -> list[int]:
        await client.delete("/sandbox/faults", headers=ops.headers())
        await add(client, ops.headers(), operation_id="getMerchants", fraction=0.5, seed=42)
        return [
            (await client.get("/partner/merchants", headers=partner.headers())).status_code
            for _ in range(12)
        ]

    first = await run()
    assert first == await run()
    assert 0 < first.count(500) < 12


async def test_a_partners_rule_applies_to_its_own_requests_only(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    merchant = await factory.merchant()
    steering = await factory.partner([merchant], scopes=[*ALL_SCOPES])
    bystander = await factory.partner([merchant], scopes=[*ALL_SCOPES])
    rule = await add(client, steering.headers(), operation_id="getMerchants", status=500)
    assert rule["owner_client_id"] == steering.client_id
    assert (await client.get("/partner/merchants", headers=steering.headers())).status_code == 500
    assert (await client.get("/partner/merchants", headers=bystander.headers())).status_code == 200
    # Each sees and clears only its own.
    assert (await client.get("/sandbox/faults", headers=bystander.headers())).json() == {
        "faults": []
    }


async def test_latency_delays_the_answer(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, setup: tuple[Merchant, Credential]
) -> None:
    _, partner = setup
    await add(client, ops.headers(), operation_id="getMerchants", action="latency", latency_ms=300)
    started = time.perf_counter()
    response = await client.get("/partner/merchants", headers=partner.headers())
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.3


async def test_a_dropped_connection_never_answers(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, setup: tuple[Merchant, Credential]
) -> None:
    _, partner = setup
    await add(client, ops.headers(), operation_id="getMerchants", action="drop", times=1)
    with pytest.raises(ConnectionAbortedError):
        await client.get("/partner/merchants", headers=partner.headers())
    assert (await client.get("/partner/merchants", headers=partner.headers())).status_code == 200


async def test_an_expired_rule_no_longer_fires(
    client: httpx.AsyncClient,
    ops: OperatorCredentialHeaders,
    setup: tuple[Merchant, Credential],
    session: Any,
) -> None:
    from sqlalchemy import update

    from thanx_server.kit.time import utcnow
    from thanx_server.models import SandboxFaultRule

    _, partner = setup
    rule = await add(client, ops.headers(), operation_id="getMerchants", expires_in=60)
    assert (await client.get("/partner/merchants", headers=partner.headers())).status_code == 500
    await session.execute(
        update(SandboxFaultRule)
        .where(SandboxFaultRule.id == rule["id"])
        .values(expires_at=utcnow())
    )
    assert (await client.get("/partner/merchants", headers=partner.headers())).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"operation_id": "noSuchOperation"}, 400, "operation_id"),
        ({"operation_id": "sandboxReset"}, 400, "operation_id"),
        ({"operation_id": "getMerchants", "status": 200}, 400, "status"),
        ({"operation_id": "getMerchants", "times": 1, "fraction": 0.5}, 400, "times"),
        ({"operation_id": "getMerchants", "action": "latency"}, 400, "latency_ms"),
        ({"operation_id": "getMerchants", "action": "explode"}, 400, "action"),
    ],
)
async def test_bad_rules_are_refused_naming_the_field(
    client: httpx.AsyncClient,
    ops: OperatorCredentialHeaders,
    body: dict[str, Any],
    status: int,
    names: str,
) -> None:
    response = await client.post("/sandbox/faults", json=body, headers=ops.headers())
    assert_error(response, status, "VALIDATION_FAILED", names)


async def test_a_partner_cannot_narrow_a_rule_to_another_merchant(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    mine, other = await factory.merchant(), await factory.merchant()
    partner = await factory.partner([mine], scopes=["sandbox"])
    response = await client.post(
        "/sandbox/faults",
        json={"operation_id": "getMerchants", "merchant_id": other.id},
        headers=partner.headers(),
    )
    assert_error(response, 403, "FORBIDDEN", "merchant_id")


async def test_rules_are_removed_one_by_one_or_all_and_by_a_reset(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, setup: tuple[Merchant, Credential]
) -> None:
    first = await add(client, ops.headers(), operation_id="getMerchants")
    await add(client, ops.headers(), operation_id="getPartnerLocations")
    removed = await client.delete(f"/sandbox/faults/{first['id']}", headers=ops.headers())
    assert removed.status_code == 204
    assert_error(
        await client.delete(f"/sandbox/faults/{first['id']}", headers=ops.headers()),
        404,
        "RESOURCE_NOT_FOUND",
        "id",
    )
    await client.post("/sandbox/reset", json={}, headers=ops.headers())
    assert (await client.get("/sandbox/faults", headers=ops.headers())).json()["faults"] == []


async def test_the_cli_adds_lists_and_clears_rules(cli: Cli, cli_client: httpx.AsyncClient) -> None:
    added = await cli.json(
        "sandbox", "faults", "add", "getMerchants", "--status", "429", "--times", "1"
    )
    assert added["fault"]["retry_after"] == 1
    listed = await cli.json("sandbox", "faults", "list")
    assert [f["id"] for f in listed["faults"]] == [added["fault"]["id"]]
    assert (await cli.json("sandbox", "faults", "clear"))["removed"] == 1
    bad = await cli("sandbox", "faults", "add", "nope", ok=False)
    assert bad.exit_code == 1
    assert "operation_id" in bad.stderr
